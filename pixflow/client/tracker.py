"""Following jobs by the `seq` of their events and noticing a worker restart: pure bookkeeping, no sockets.

Shared by the Python client's `follow` and by pixflow-monitor, so that both answer a missed event or a restarted
worker the same way (docs/protocol.md): a gap in `seq` or a new `started_at` means "read `status`".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeGuard

from pixflow.protocol import job_topic
from pixflow.vocabulary import JOB_TOPIC_PREFIXES, TERMINAL_STATES, TOPIC_STATE

Event = tuple[str, dict[str, Any]]  # (topic, payload)


class Seen(StrEnum):
    NEW = "new"  # the next event of the job: apply it
    GAP = "gap"  # newer, but some before it were missed: apply it, then read `status`
    STALE = "stale"  # already reflected (a repeated or older seq, or older than a snapshot): skip it


def is_seq(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class SeqTracker:
    """The newest `seq` known for each job, from events and from snapshots (whose `seq` is the last published)."""

    last: dict[str, int] = field(default_factory=dict)

    def event(self, job_id: str, seq: int) -> Seen:
        """Classify an event. A job never seen counts from 0, so an event after the first one is a gap: the
        follower joined late or missed the creation."""
        last = self.last.get(job_id, 0)
        if seq <= last:
            return Seen.STALE
        self.last[job_id] = seq
        return Seen.NEW if seq == last + 1 else Seen.GAP

    def snapshot(self, job_id: str, seq: int) -> bool:
        """True when a snapshot is at least as new as every event seen, so its state wins."""
        if seq < self.last.get(job_id, 0):
            return False
        self.last[job_id] = seq
        return True

    def seq_of(self, job_id: str) -> int:
        return self.last.get(job_id, 0)

    def forget(self, job_id: str) -> None:
        self.last.pop(job_id, None)

    def clear(self) -> None:
        self.last.clear()


@dataclass
class WorkerIdentity:
    """Which worker process answers: its `started_at` (in `pong`, the `worker` reply and `worker.stats`).

    A different value than before means the worker restarted: events were missed while it was down and the
    `seq` of unfinished jobs jumped, so whoever follows jobs reads their `status` again."""

    started_at: int | None = None
    restarts: int = 0

    def observe(self, started_at: object) -> bool:
        """Take a `started_at` from any message; True when it shows a restart (the first one seen does not)."""
        if not is_seq(started_at):
            return False
        previous, self.started_at = self.started_at, started_at
        if previous is None or previous == started_at:
            return False
        self.restarts += 1
        return True


def snapshot_event(snapshot: dict[str, Any], previous_state: str | None) -> Event:
    """A `status` snapshot as a job.state event, for followers that only read events: `from` is the state the
    follower knew, `to` the snapshot's; `synthetic` marks it, `snapshot` holds the whole reply."""
    job_id = str(snapshot["job_id"])
    state = str(snapshot.get("state"))
    event: dict[str, Any] = {
        "ts": snapshot.get("finished_at") if state in TERMINAL_STATES else None,
        "job_id": job_id,
        "seq": snapshot.get("seq") or 0,
        "from": previous_state,
        "to": state,
        "synthetic": True,
        "snapshot": {key: value for key, value in snapshot.items() if key not in ("type", "v", "req_id")},
    }
    for name in ("passes", "backend", "overall", "eta", "stage_progress", "step_rate", "error", "outputs"):
        if snapshot.get(name) is not None:
            event[name] = snapshot[name]
    return job_topic(TOPIC_STATE, job_id).decode(), event


class JobFollower:
    """The state of one `Client.follow_jobs`: which jobs are still followed, the seq and state known of each, and
    which need their `status` read (after a gap, a restart, a quiet spell, or when followed late)."""

    def __init__(self, wanted: set[str], to_read: set[str]) -> None:
        self.wanted = set(wanted)
        self.to_read = set(to_read)
        self.seqs = SeqTracker()
        self.states: dict[str, str] = {}

    def wants(self, topic: str, event: dict[str, Any]) -> bool:
        """One of the four topics of a followed job (a prefix subscription also brings other jobs' events)."""
        job_id = event.get("job_id")
        return (
            isinstance(job_id, str)
            and job_id in self.wanted
            and topic.endswith(job_id)
            and topic[: len(topic) - len(job_id)] in JOB_TOPIC_PREFIXES
        )

    def take(self, topic: str, event: dict[str, Any]) -> bool:
        """Account for an event; False when an earlier snapshot already covered it."""
        job_id = str(event["job_id"])
        seq = event.get("seq")
        if is_seq(seq):
            seen = self.seqs.event(job_id, seq)
            if seen is Seen.STALE:
                return False
            if seen is Seen.GAP:
                self.to_read.add(job_id)
        if topic.startswith(TOPIC_STATE):
            self._took_state(job_id, str(event.get("to")))
        return True

    def take_snapshot(self, snapshot: dict[str, Any]) -> Event | None:
        """The snapshot as a synthetic job.state event, when it tells something the events did not."""
        job_id = str(snapshot["job_id"])
        self.to_read.discard(job_id)
        seq = snapshot.get("seq")
        if not self.seqs.snapshot(job_id, seq if is_seq(seq) else 0):
            return None
        state = str(snapshot.get("state"))
        if self.states.get(job_id) == state and state not in TERMINAL_STATES:
            return None  # missed only progress or previews: nothing a follower must know
        event = snapshot_event(snapshot, self.states.get(job_id))
        self._took_state(job_id, state)
        return event

    def _took_state(self, job_id: str, state: str) -> None:
        self.states[job_id] = state
        if state in TERMINAL_STATES:
            self.wanted.discard(job_id)
            self.to_read.discard(job_id)
