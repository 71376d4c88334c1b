"""A Python client of the wire protocol: requests over DEALER, events over SUB. Used by the CLI, the tests and
the benchmarks.

No ghost jobs (docs/protocol.md, "Job ids and timeouts"): every `generate` carries an id chosen here, so a retry
after a timeout returns the same job; a request that timed out is thrown away with its socket, so it is never
delivered later; and no call waits longer than its timeout, even while the worker is down.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import zmq

from pixflow.client.calls import Calls, ClientError, new_job_id
from pixflow.client.keys import apply_keys, client_keys
from pixflow.client.tracker import Event, JobFollower, WorkerIdentity
from pixflow.protocol import DEFAULT_PUB_ADDR, DEFAULT_REQ_ADDR, PROTOCOL_VERSION, job_topic, pack, unpack
from pixflow.vocabulary import JOB_TOPIC_PREFIXES, TOPIC_STATS

EventFilter = Callable[[str, dict[str, Any]], bool]
MAX_PENDING = 10_000  # events read while waiting for others; beyond this the oldest go (followers resync by seq)


class Client(Calls):
    """`timeout` bounds every request (sending included) and is the default for waits on events.

    `on_restart(started_at)` is called when the worker's `started_at` changes (seen in a `pong`, a `worker`
    reply or a `worker.stats` event): it restarted, events were lost. `identity.restarts` counts them."""

    def __init__(
        self,
        req_addr: str = DEFAULT_REQ_ADDR,
        pub_addr: str = DEFAULT_PUB_ADDR,
        timeout: float = 5.0,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        on_restart: Callable[[int], None] | None = None,
        server_key: str | Path | None = None,  # CURVE: the worker's NAME.key (else PIXFLOW_SERVER_KEY)
        client_key: str | Path | None = None,  # CURVE: this client's NAME.key_secret (else PIXFLOW_CLIENT_KEY)
    ) -> None:
        self._context: zmq.Context[zmq.Socket[bytes]] = context or zmq.Context.instance()
        self.keys = client_keys(server_key, client_key)
        self.req_addr, self.pub_addr, self.timeout = req_addr, pub_addr, timeout
        self.on_restart = on_restart
        self.identity = WorkerIdentity()
        self.last_stats: dict[str, Any] | None = None
        self._dealer = self._new_dealer()
        self._sub: zmq.Socket[bytes] | None = None
        self._topics: set[bytes] = set()
        self._pending: deque[Event] = deque(maxlen=MAX_PENDING)
        self._req_ids = itertools.count(1)

    def _new_dealer(self) -> zmq.Socket[bytes]:
        dealer = apply_keys(self.keys, self._context.socket(zmq.DEALER))
        dealer.setsockopt(zmq.LINGER, 0)  # closing drops whatever is still queued: no late delivery
        # Queue nothing while no connection is complete: a send to a worker that is down fails (after SNDTIMEO)
        # instead of waiting in the socket to be delivered whenever the worker comes back.
        dealer.setsockopt(zmq.IMMEDIATE, 1)
        dealer.connect(self.req_addr)
        return dealer

    def _reset_dealer(self) -> None:
        """After a timeout: the request may still sit in the socket; close it so it is never delivered."""
        self._dealer.close(0)
        self._dealer = self._new_dealer()

    def close(self) -> None:
        self._dealer.close(0)
        if self._sub is not None:
            self._sub.close(0)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Requests.
    def call(self, kind: str, timeout: float | None = None, **fields: Any) -> dict[str, Any]:
        """Send a request and return the reply; raise ClientError on an `error` reply or a timeout.

        A `generate` without an `id` (a `compare` or `sheet` without a `group_id`) gets one here, so that no job
        exists whose id the caller cannot know."""
        id_field = {"generate": "id", "compare": "group_id", "sheet": "group_id"}.get(kind)
        if id_field is not None and fields.get(id_field) is None:
            fields[id_field] = new_job_id()
        reply = self.request({"type": kind, "v": PROTOCOL_VERSION, **fields}, timeout)
        if reply.get("type") == "error":
            raise ClientError(str(reply.get("code", "?")), str(reply.get("message", "")))
        return reply

    def request(self, message: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Send one request as given (no id added) and return the reply, whatever its type."""
        req_id = next(self._req_ids)
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self._send(pack({**message, "req_id": req_id}), deadline, timeout)
        reply = self._await_reply(req_id, deadline, timeout)
        if reply.get("type") in ("pong", "worker"):
            self._observe_started_at(reply.get("started_at"))
        return reply

    def send_raw(self, payload: bytes) -> dict[str, Any]:
        """Send arbitrary bytes as a request payload (for tests of bad input)."""
        deadline = time.monotonic() + self.timeout
        self._send(payload, deadline, self.timeout)
        return self._await_reply(None, deadline, self.timeout)

    def _send(self, payload: bytes, deadline: float, timeout: float) -> None:
        self._dealer.setsockopt(zmq.SNDTIMEO, max(1, int((deadline - time.monotonic()) * 1000)))
        try:
            self._dealer.send_multipart([b"", payload])
        except zmq.Again:
            self._reset_dealer()
            raise ClientError("timeout", f"could not reach the worker at {self.req_addr} within {timeout:g}s") from None

    def _await_reply(self, req_id: int | None, deadline: float, timeout: float) -> dict[str, Any]:
        while (remaining := deadline - time.monotonic()) > 0:
            if not self._dealer.poll(max(1, int(remaining * 1000))):
                continue  # the loop condition ends the wait
            frames = self._dealer.recv_multipart()
            reply = unpack(frames[-1])
            if isinstance(reply, dict) and (req_id is None or reply.get("req_id") == req_id):
                return reply
        self._reset_dealer()
        raise ClientError("timeout", f"no reply from the worker at {self.req_addr} within {timeout:g}s")

    # Events.
    def subscribe(self, *topics: str | bytes) -> None:
        if self._sub is None:
            self._sub = apply_keys(self.keys, self._context.socket(zmq.SUB))
            self._sub.setsockopt(zmq.LINGER, 0)
            self._sub.connect(self.pub_addr)
        for topic in topics:
            encoded = topic if isinstance(topic, bytes) else topic.encode()
            self._sub.setsockopt(zmq.SUBSCRIBE, encoded)
            self._topics.add(encoded)

    def subscribe_job(self, job_id: str) -> None:
        self.subscribe(*(job_topic(prefix, job_id) for prefix in JOB_TOPIC_PREFIXES))

    def subscribed_to_job(self, job_id: str) -> bool:
        """Whether every topic of the job matches a subscription (subscriptions match by prefix)."""
        return all(
            any(job_topic(prefix, job_id).startswith(topic) for topic in self._topics) for prefix in JOB_TOPIC_PREFIXES
        )

    def wait_subscribed(self, timeout: float = 5.0) -> None:
        """A SUB socket misses what is published before its subscriptions reach the PUB: wait until they have,
        by waiting for a worker.stats event (published every `stats_interval`) read after the subscribing.

        Events read meanwhile are kept for `next_event`, not dropped."""
        self.subscribe(TOPIC_STATS)
        self._drain()  # what had already arrived proves nothing about the newest subscriptions
        self.next_event(timeout, want=lambda topic, _: topic == TOPIC_STATS)

    def next_event(self, timeout: float, want: EventFilter | None = None) -> Event:
        """The next event `want` accepts (any when None). Others are kept, in order, for later calls, except
        worker.stats events, which repeat every second (the newest is `last_stats`)."""
        for index, kept in enumerate(self._pending):
            if want is None or want(*kept):
                del self._pending[index]
                return kept
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            event = self._read(remaining)
            if event is None:
                continue
            if want is None or want(*event):
                return event
            if event[0] != TOPIC_STATS:
                self._pending.append(event)
        raise ClientError("timeout", f"no event from {self.pub_addr} within {timeout:g}s")

    def _read(self, timeout: float) -> Event | None:
        assert self._sub is not None, "subscribe() first"
        if not self._sub.poll(max(0, int(timeout * 1000))):
            return None
        frames = self._sub.recv_multipart()
        if len(frames) != 2:
            return None  # not an event of this protocol
        event = unpack(frames[1])
        if not isinstance(event, dict):
            return None
        topic = frames[0].decode(errors="replace")
        if topic == TOPIC_STATS:
            self.last_stats = event
            self._observe_started_at(event.get("started_at"))
        return topic, event

    def _drain(self) -> None:
        while (event := self._read(0)) is not None:
            if event[0] != TOPIC_STATS:
                self._pending.append(event)

    def _observe_started_at(self, started_at: object) -> None:
        if self.identity.observe(started_at) and self.on_restart is not None:
            assert self.identity.started_at is not None
            self.on_restart(self.identity.started_at)

    # Following jobs.
    def follow(self, job_id: str, timeout: float = 60.0, idle: float = 5.0) -> Iterator[Event]:
        """Yield a job's events until its final job.state; see `follow_jobs`."""
        return self.follow_jobs([job_id], timeout, idle)

    def follow_jobs(self, job_ids: Iterable[str], timeout: float = 60.0, idle: float = 5.0) -> Iterator[Event]:
        """Yield the jobs' events until each has reached a final state; ClientError `timeout` after `timeout`.

        Nothing is missed for long: after a `seq` gap, a worker restart, `idle` seconds without an event of these
        jobs, or when the jobs were not subscribed yet (this subscribes them), the jobs' `status` is read, and a
        snapshot newer than the events seen is yielded as a job.state event marked `synthetic` (`snapshot_event`);
        events it already covers are skipped. So the final state always arrives, even if its event is lost."""
        deadline = time.monotonic() + timeout
        wanted = set(job_ids)
        late = {job_id for job_id in wanted if not self.subscribed_to_job(job_id)}
        for job_id in late:
            self.subscribe_job(job_id)
        if late or TOPIC_STATS.encode() not in self._topics:
            # No worker.stats in time (is the worker down?): reading `status` below, and again later, covers it.
            with contextlib.suppress(ClientError):
                self.wait_subscribed(max(0.0, min(self.timeout, deadline - time.monotonic())))
        follower = JobFollower(wanted, to_read=late)
        restarts = self.identity.restarts

        def wants(topic: str, event: dict[str, Any]) -> bool:
            # The jobs' events, and a worker.stats event that showed a restart, to stop waiting at once.
            return follower.wants(topic, event) or (topic == TOPIC_STATS and self.identity.restarts != restarts)

        next_read = time.monotonic()  # when to read `status` of the jobs in follower.to_read
        quiet_since = time.monotonic()
        while follower.wanted:
            now = time.monotonic()
            if self.identity.restarts != restarts:
                restarts = self.identity.restarts
                follower.to_read |= follower.wanted
                next_read = now
            if now - quiet_since >= idle:
                follower.to_read |= follower.wanted
                quiet_since = now
            if follower.to_read and now >= next_read:
                yield from self._read_status(follower, deadline)
                if follower.to_read:  # the worker did not answer: try again a little later
                    next_read = time.monotonic() + min(idle, self.timeout)
                continue
            remaining = deadline - now
            if remaining <= 0:
                raise ClientError("timeout", f"jobs {', '.join(sorted(follower.wanted))} did not end in {timeout:g}s")
            wait = min(remaining, quiet_since + idle - now, *([next_read - now] if follower.to_read else []))
            try:
                topic, event = self.next_event(max(0.001, wait), want=wants)
            except ClientError:
                continue  # nothing in this window: the loop decides whether to read `status` or give up
            if topic == TOPIC_STATS:
                continue  # it showed a restart: the loop reads `status`
            quiet_since = time.monotonic()
            if follower.take(topic, event):
                yield topic, event

    def _read_status(self, follower: JobFollower, deadline: float) -> Iterator[Event]:
        for job_id in sorted(follower.to_read):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                snapshot = self.status(job_id, timeout=min(self.timeout, remaining))
            except ClientError as e:
                if e.code == "not_found":  # not created yet: its events will come
                    follower.to_read.discard(job_id)
                    continue
                return  # the worker does not answer now
            event = follower.take_snapshot(snapshot)
            if event is not None:
                yield event
