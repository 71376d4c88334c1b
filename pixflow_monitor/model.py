"""What the monitor knows about the worker, built from events and snapshots. Plain data, touched by the UI thread only.

Events and `status`/`list_jobs` snapshots are merged by `seq`: whichever is newer for a job wins, so a snapshot
read while events stream in never moves a job backwards. A job first seen through an event, a `seq` gap, or a
job that started running without a known backend adds the job to `wanted`: the app asks `status` for it.
The `seq` bookkeeping and restart detection are pixflow's client tracker, shared with the Python client's follow.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pixflow.client.tracker import Seen, SeqTracker, WorkerIdentity, is_seq
from pixflow.vocabulary import (
    JOB_TOPIC_PREFIXES,
    STAGE_NAMES,
    TERMINAL_STATES,
    TOPIC_BACKEND,
    TOPIC_OUTPUT,
    TOPIC_PREVIEW,
    TOPIC_PROGRESS,
    TOPIC_STATE,
    TOPIC_STATS,
    JobState,
)
from pixflow_monitor.clock import Clock
from pixflow_monitor.job_view import JobView, LogEntry, Preview, error_summary
from pixflow_monitor.pool import backend_news, backend_state

PAUSED_REASON = "the worker is paused: no job leaves its queue until resume (u)"

MINUTE_MS = 60_000


class MonitorModel:
    def __init__(self, clock: Clock, max_finished: int = 2000) -> None:
        self.clock = clock
        self.max_finished = max_finished
        self.jobs: dict[str, JobView] = {}
        self.backends: dict[str, dict[str, Any]] = {}
        self.worker: dict[str, Any] | None = None  # the last `worker` status reply
        self.stats: dict[str, Any] | None = None  # the last worker.stats event
        self.finished_per_minute: Counter[int] = Counter()
        self._counted: set[str] = set()
        self.wanted: set[str] = set()  # jobs to ask `status` about
        self.changed_jobs: set[str] = set()
        self.changed_panels: set[str] = set()  # "backends", "stats", "worker"
        self.log: list[LogEntry] = []  # new lines, drained by the UI
        self.events_seen = 0
        self.stats_seen = 0  # worker.stats events: one arriving means the subscription is live
        self.paused: bool | None = None  # dispatch paused, when the worker says (`paused`: newer workers only)
        self._paused_as_of = 0  # ms: worker.stats older than the last pause/resume answer do not count
        self.seqs = SeqTracker()  # the newest seq of each job held, from events and snapshots
        self.identity = WorkerIdentity()  # the worker's started_at, from `worker` replies, worker.stats and pongs
        self.restart_pending = False  # a worker.stats event showed a restart: the app resynchronises

    # Events.
    def apply_events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        for topic, event in events:
            self.apply_event(topic, event)

    def apply_event(self, topic: str, event: dict[str, Any]) -> None:
        self.events_seen += 1
        if topic == TOPIC_STATS:
            if self.note_started_at(event.get("started_at")):
                self.restart_pending = True
            self.stats = event
            self.stats_seen += 1
            self._take_paused(event)
            self.changed_panels.add("stats")
        elif topic.startswith(TOPIC_BACKEND):
            self._apply_backend(event)
        elif topic.startswith(JOB_TOPIC_PREFIXES):
            self._apply_job_event(topic, event)

    def _apply_job_event(self, topic: str, event: dict[str, Any]) -> None:
        job_id = event.get("job_id")
        if not isinstance(job_id, str):
            return
        job = self.jobs.get(job_id)
        if job is None:
            job = self.jobs[job_id] = JobView(job_id)
            self.wanted.add(job_id)
        seq = event.get("seq")
        if is_seq(seq):
            seen = self.seqs.event(job_id, seq)
            if seen is Seen.STALE:  # already reflected by a newer snapshot: only the log takes it
                if topic.startswith(TOPIC_STATE):
                    self._log_state(job, event)
                elif topic.startswith(TOPIC_PREVIEW):
                    self._apply_preview(job, event)  # images travel only in events: a snapshot has none
                return
            if seen is Seen.GAP:
                self.wanted.add(job_id)  # events were missed (or it is new to the monitor): read its status
            job.seq = seq
        if topic.startswith(TOPIC_STATE):
            self._apply_state(job, event)
        elif topic.startswith(TOPIC_PROGRESS):
            job.progress = {key: event.get(key) for key in ("node", "value", "max")}
            if event.get("stage") in STAGE_NAMES:
                job.stage = event["stage"]
            self._take_estimates(job, event)
        elif topic.startswith(TOPIC_PREVIEW):
            self._apply_preview(job, event)
        elif topic.startswith(TOPIC_OUTPUT):
            output = {key: value for key, value in event.items() if key not in ("ts", "job_id", "seq")}
            job.outputs = [o for o in job.outputs if o.get("index") != output.get("index")] + [output]
            job.outputs.sort(key=lambda o: o.get("index") or 0)
        self._touch(job)

    def _apply_preview(self, job: JobView, event: dict[str, Any]) -> None:
        seq = event["seq"] if is_seq(event.get("seq")) else 0
        if isinstance(event.get("image"), bytes) and (job.preview is None or seq > job.preview.seq):
            job.preview = Preview(
                event["image"], str(event.get("format") or ""), event.get("step"), event.get("node"), seq
            )
            self._touch(job)

    def _apply_state(self, job: JobView, event: dict[str, Any]) -> None:
        source, dest, ts = event.get("from"), str(event.get("to")), event.get("ts")
        job.state = dest
        job.stage = dest if dest in STAGE_NAMES else None
        if dest != JobState.QUEUED:
            job.wait_reason = None  # only a waiting job has a reason to wait; events do not carry it
        job.passes = event.get("passes") or job.passes
        job.group_id = event.get("group_id") or job.group_id  # on creation
        job.backend = event.get("backend") or job.backend  # on changes, from workers that send it
        if isinstance(ts, int):
            job.state_times[dest] = ts
            if source is None and job.created_at is None:
                job.created_at = ts
            if dest in TERMINAL_STATES:
                job.finished_at = ts
        if dest == JobState.FAILED:
            job.error = event.get("error") or job.error
        if dest == JobState.DONE and event.get("outputs") is not None:
            job.outputs = list(event["outputs"])
        if dest in STAGE_NAMES and job.backend is None:
            self.wanted.add(job.job_id)  # dispatched: ask which backend took it
        self._take_estimates(job, event)
        self._count_finished(job)
        self._log_state(job, event)

    def _log_state(self, job: JobView, event: dict[str, Any]) -> None:
        source, dest, ts = event.get("from"), event.get("to"), event.get("ts")
        if source is None:
            self._log(ts, f"{job.job_id} created ({dest})")
        elif dest == JobState.FAILED:
            self._log(ts, f"{job.job_id} {source} → failed: {error_summary(event.get('error'))}", "error")
        else:
            self._log(ts, f"{job.job_id} {source} → {dest}", "warning" if dest == JobState.CANCELLED else "info")

    def _take_estimates(self, job: JobView, fields: dict[str, Any]) -> None:
        progress = fields.get("progress")
        if not isinstance(progress, dict):
            progress = {}
        overall = fields.get("overall", progress.get("overall"))
        if overall is not None:
            job.overall = overall  # only goes forward: a message without it keeps the last one
        # An ETA is true only as of the message that carries it: one without (nil: not running, or the worker is
        # paused) clears the last one instead of leaving an old countdown on a job that waits.
        eta = fields.get("eta", progress.get("eta"))
        job.eta = None if self._waits_paused(job) else eta
        if fields.get("to") in TERMINAL_STATES or fields.get("state") in TERMINAL_STATES:
            job.eta = None

    def _waits_paused(self, job: JobView) -> bool:
        return self.paused is True and job.state == JobState.QUEUED

    def apply_backend_figures(self, reply: dict[str, Any]) -> None:
        """The `backend` reply to drain, disable or enable: the figures as the `backend.<name>` event has them."""
        self._apply_backend({key: value for key, value in reply.items() if key not in ("type", "v", "req_id")})

    def _apply_backend(self, event: dict[str, Any]) -> None:
        name = event.get("name")
        if not isinstance(name, str):
            return
        before = self.backends.get(name)
        self.changed_panels.add("backends")
        for text, level in backend_news(name, before, event):
            self._log(event.get("ts"), text, level)
        if backend_state(event) == "removed":  # dropped from the settings (SIGHUP): its last word
            self.backends.pop(name, None)
        else:
            self.backends[name] = {key: value for key, value in event.items() if key != "ts"}

    # Snapshots (`job` replies and `jobs[]` entries).
    def apply_snapshot(self, snapshot: dict[str, Any]) -> JobView | None:
        job_id = snapshot.get("job_id")
        if not isinstance(job_id, str):
            return None
        job = self.jobs.get(job_id)
        if job is None:
            job = self.jobs[job_id] = JobView(job_id)
        self.wanted.discard(job_id)
        # What never changes is taken from any snapshot, even one older than the events seen.
        job.params = dict(snapshot.get("params") or job.params)
        job.workflow = snapshot.get("workflow") or job.workflow
        job.priority = snapshot.get("priority", job.priority)
        job.created_at = snapshot.get("created_at") or job.created_at
        job.backend = snapshot.get("backend") or job.backend
        job.group_id = snapshot.get("group_id") or job.group_id
        was_known, job.has_snapshot = job.has_snapshot, True
        seq = snapshot["seq"] if is_seq(snapshot.get("seq")) else 0
        if self.seqs.snapshot(job_id, seq):
            previous = job.state
            job.seq = seq
            job.state = str(snapshot.get("state") or job.state)
            job.stage = snapshot.get("stage")
            job.passes = snapshot.get("passes") or 0
            job.progress = snapshot.get("progress")
            job.outputs = list(snapshot.get("outputs") or [])
            job.error = snapshot.get("error")
            job.cancel_requested = bool(snapshot.get("cancel_requested"))
            reason = snapshot.get("wait_reason")
            job.wait_reason = reason if isinstance(reason, str) and reason else None
            if self._waits_paused(job) and "paused" not in (job.wait_reason or ""):
                job.wait_reason = PAUSED_REASON  # older workers said "waiting for a free slot" while paused
            job.started_at = snapshot.get("started_at")
            job.finished_at = snapshot.get("finished_at")
            job.state_times = dict(snapshot.get("state_times") or {})
            self._take_estimates(job, snapshot)
            self._count_finished(job)
            if previous != job.state and was_known:
                self._log(self.clock.now_ms(), f"{job.job_id} is {job.state} (read with status)")
        self._touch(job)
        return job

    def forget(self, job_id: str) -> None:
        """The worker does not know this job (it restarted, or dropped the finished job)."""
        if self.jobs.pop(job_id, None) is not None:
            self.changed_jobs.add(job_id)
        self.seqs.forget(job_id)
        self.wanted.discard(job_id)

    def apply_worker_status(self, reply: dict[str, Any], received_at: int | None = None) -> bool:
        """Take a `worker` reply (received at `received_at`, ms since the epoch); True if it comes from a different
        worker process than before (it restarted)."""
        restarted = self.note_started_at(reply.get("started_at"))
        self.worker = {key: value for key, value in reply.items() if key not in ("type", "v", "req_id")}
        self._take_paused(reply)
        if received_at is not None and isinstance(reply.get("paused"), bool):
            self._paused_as_of = received_at
        for backend in reply.get("backends") or []:
            self._apply_backend(backend)
        self.changed_panels.update(("worker", "stats"))
        return restarted

    def note_started_at(self, started_at: object) -> bool:
        """Take the worker's `started_at` from any message; on a change (it restarted), drop what was known of
        its jobs, which are read again from scratch, and return True."""
        if not self.identity.observe(started_at):
            return False
        self._log(self.clock.now_ms(), "the worker restarted: reading its jobs again", "warning")
        self.changed_jobs.update(self.jobs)
        self.jobs.clear()
        self.seqs.clear()
        self.wanted.clear()
        return True

    # Reading.
    def counts(self) -> dict[str, int]:
        """The counts of the last worker.stats event, else of the last `worker` reply."""
        if self.stats is not None:
            return {key: int(self.stats.get(key) or 0) for key in ("queued", "running", "done", "failed", "cancelled")}
        by_state = (self.worker or {}).get("jobs") or {}
        return {
            "queued": by_state.get("queued", 0),
            "running": sum(by_state.get(state, 0) for state in STAGE_NAMES),
            "done": by_state.get("done", 0),
            "failed": by_state.get("failed", 0),
            "cancelled": by_state.get("cancelled", 0),
        }

    def throughput(self, minutes: int = 30) -> list[int]:
        """Jobs finished in each of the last `minutes` minutes (oldest first), by the worker's finish times."""
        current = self.clock.now_ms() // MINUTE_MS
        return [self.finished_per_minute[minute] for minute in range(current - minutes + 1, current + 1)]

    def take_log(self) -> list[LogEntry]:
        lines, self.log = self.log, []
        return lines

    def prune(self, keep: set[str]) -> None:
        """Hold at most `max_finished` finished jobs: drop the ones that finished longest ago."""
        finished = [job for job in self.jobs.values() if job.finished and job.job_id not in keep]
        excess = len(finished) - self.max_finished
        if excess <= 0:
            return
        finished.sort(key=lambda job: job.finished_at or 0)
        for job in finished[:excess]:
            del self.jobs[job.job_id]
            self.seqs.forget(job.job_id)
            self._counted.discard(job.job_id)
            self.changed_jobs.add(job.job_id)

    # Helpers.
    def _count_finished(self, job: JobView) -> None:
        if job.finished and job.finished_at and job.job_id not in self._counted:
            self._counted.add(job.job_id)
            self.finished_per_minute[job.finished_at // MINUTE_MS] += 1
            self.changed_panels.add("stats")

    def _take_paused(self, fields: dict[str, Any]) -> None:
        paused, ts = fields.get("paused"), fields.get("ts")
        if isinstance(ts, int) and ts <= self._paused_as_of:
            return  # published before the answer to our pause/resume: stale
        if isinstance(paused, bool) and paused != self.paused:
            if self.paused is not None or paused:
                self._log(fields.get("ts"), "dispatch paused" if paused else "dispatch resumed", "warning")
            self.paused = paused
            self.changed_panels.add("worker")
            self._queued_jobs_on_pause(paused)

    def _queued_jobs_on_pause(self, paused: bool) -> None:
        """A queued job's ETA and reason to wait change with a pause at once, though no event of it says so:
        while paused it has no ETA and waits for `resume`; after, the reason is the worker's again (the app reads
        the selected job's; the others' come with their next snapshot)."""
        for job in self.jobs.values():
            if job.state != JobState.QUEUED:
                continue
            job.eta = None if paused else job.eta
            job.wait_reason = PAUSED_REASON if paused else None
            self._touch(job)

    def _touch(self, job: JobView) -> None:
        job.version += 1
        self.changed_jobs.add(job.job_id)

    def _log(self, ts: Any, text: str, level: str = "info") -> None:
        self.log.append(LogEntry(ts if isinstance(ts, int) else self.clock.now_ms(), text, level))
