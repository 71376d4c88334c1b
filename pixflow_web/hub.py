"""The fan-out of the worker's events to the server-sent event streams, and the memory that lets them resume.

The web server subscribes once (link.py) and every stream is fed from here: a slow stream never slows the others,
because `publish` never waits. Each subscriber has a bounded queue; one that fills it is dropped (its stream ends
with a `dropped` event naming the last id it was sent, to reconnect from). Recent events are kept twice: per job
by the protocol's `seq` (a job stream's `id`), and all together by an id this server assigns, `EPOCH-N` (EPOCH
its start time: a restarted web server never takes an old id for one of its own). A Last-Event-ID still in
memory resumes exactly after it; an older one gets a snapshot first (streams.py).

Pure but for asyncio.Event: no I/O, one thread (the server's event loop), so subscribing and reading a buffer in
one synchronous step can let no event slip between them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import OrderedDict, deque
from typing import Any

from pixflow.vocabulary import (
    JOB_TOPIC_PREFIXES,
    TOPIC_BACKEND,
    TOPIC_GROUP_DONE,
    TOPIC_OUTPUT,
    TOPIC_PREVIEW,
    TOPIC_PROGRESS,
    TOPIC_STATE,
    TOPIC_STATS,
)

EVENT_NAMES = {
    TOPIC_STATE: "state",
    TOPIC_PROGRESS: "progress",
    TOPIC_PREVIEW: "preview",
    TOPIC_OUTPUT: "output",
    TOPIC_BACKEND: "backend",
    TOPIC_GROUP_DONE: "group",
    TOPIC_STATS: "stats",
}


def json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()  # preview images: base64 in JSON
    raise TypeError(f"{type(value).__name__} is not JSON")


def to_json(value: Any) -> str:
    return json.dumps(value, default=json_default, separators=(",", ":"), ensure_ascii=False)


class Published:
    """One event as the worker published it, with its name on the streams and its JSON made once for all."""

    __slots__ = ("_data", "event", "name", "topic")

    def __init__(self, topic: str, event: dict[str, Any]) -> None:
        self.topic, self.event = topic, event
        family = next((prefix for prefix in EVENT_NAMES if topic.startswith(prefix)), "")
        self.name = EVENT_NAMES.get(family, "event")
        self._data: str | None = None

    @property
    def data(self) -> str:
        if self._data is None:
            self._data = to_json({"topic": self.topic, **self.event})
        return self._data


def job_of(topic: str, event: dict[str, Any]) -> str | None:
    """The job an event is about: a job topic whose suffix is the event's own `job_id` (prefixes match others)."""
    job_id = event.get("job_id")
    if isinstance(job_id, str) and topic.endswith(job_id) and topic[: len(topic) - len(job_id)] in JOB_TOPIC_PREFIXES:
        return job_id
    return None


Item = tuple[str, Published]  # the stream's id for it, and the event


class Subscriber:
    """One stream's queue: the job's events (job_id) or those whose topic starts with one of `prefixes`."""

    def __init__(self, bound: int, job_id: str | None = None, prefixes: tuple[str, ...] = ()) -> None:
        self.bound, self.job_id, self.prefixes = bound, job_id, prefixes
        self.items: deque[Item] = deque()
        self.ready = asyncio.Event()
        self.dropped = False
        self.closed = False  # the server is stopping

    def wants(self, topic: str, job_id: str | None) -> bool:
        if self.job_id is not None:
            return job_id == self.job_id
        return not self.prefixes or topic.startswith(self.prefixes)

    def push(self, item: Item) -> bool:
        """False when the queue was full: the subscriber is dropped (and woken to say so)."""
        if len(self.items) >= self.bound:
            self.dropped = True
            self.items.clear()
            self.ready.set()
            return False
        self.items.append(item)
        self.ready.set()
        return True

    def take(self) -> list[Item]:
        items = list(self.items)
        self.items.clear()
        self.ready.clear()
        return items


class Hub:
    def __init__(
        self, job_buffer: int = 512, jobs_kept: int = 2000, buffer: int = 4096, queue_bound: int = 2000
    ) -> None:
        self.epoch = str(time.time_ns() // 1_000_000)
        self.job_buffer, self.jobs_kept, self.queue_bound = job_buffer, jobs_kept, queue_bound
        self.count = 0  # the N of the last global id
        self._recent: deque[tuple[int, Published]] = deque(maxlen=buffer)
        self._jobs: OrderedDict[str, deque[tuple[int, Published]]] = OrderedDict()
        self._subscribers: set[Subscriber] = set()
        self.dropped = 0  # subscribers dropped for being slow, since the start

    def global_id(self, n: int) -> str:
        return f"{self.epoch}-{n}"

    def publish(self, topic: str, event: dict[str, Any]) -> None:
        published = Published(topic, event)
        self.count += 1
        self._recent.append((self.count, published))
        job_id = job_of(topic, event)
        seq = event.get("seq")
        if job_id is not None and isinstance(seq, int) and not isinstance(seq, bool):
            ring = self._jobs.get(job_id)
            if ring is None:
                ring = self._jobs[job_id] = deque(maxlen=self.job_buffer)
                if len(self._jobs) > self.jobs_kept:
                    self._jobs.popitem(last=False)
            self._jobs.move_to_end(job_id)
            if not ring or seq > ring[-1][0]:  # a duplicate or older event is not kept twice
                ring.append((seq, published))
        for subscriber in list(self._subscribers):
            if not subscriber.wants(topic, job_id):
                continue
            stream_id = str(seq) if subscriber.job_id is not None else self.global_id(self.count)
            if not subscriber.push((stream_id, published)):
                self._subscribers.discard(subscriber)
                self.dropped += 1

    def subscribe(self, job_id: str | None = None, prefixes: tuple[str, ...] = ()) -> Subscriber:
        subscriber = Subscriber(self.queue_bound, job_id, prefixes)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def close(self) -> None:
        """The server stops: every stream ends."""
        for subscriber in self._subscribers:
            subscriber.closed = True
            subscriber.ready.set()
        self._subscribers.clear()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def job_since(self, job_id: str, last_seq: int) -> list[Item] | None:
        """The job's events after `last_seq` (0: all of them), or None when they are not all in memory."""
        ring = self._jobs.get(job_id)
        if not ring:
            return None
        after = [(str(seq), published) for seq, published in ring if seq > last_seq]
        if not after:
            return []  # nothing newer than what the caller has
        if int(after[0][0]) == last_seq + 1 or any(seq == last_seq for seq, _ in ring):
            return after
        return None  # the events just after last_seq are no longer (or never were) here

    def job_last(self, job_id: str) -> Published | None:
        ring = self._jobs.get(job_id)
        return ring[-1][1] if ring else None

    def since(self, last_id: str | None, prefixes: tuple[str, ...] = ()) -> list[Item] | None:
        """Every event after the global id `last_id` (None: none, the stream starts now), or None when gone."""
        if last_id is None:
            return []
        epoch, _, number = last_id.rpartition("-")
        if epoch != self.epoch or not number.isdigit() or int(number) > self.count:
            return None  # another run's id (or none of ours)
        n = int(number)
        if n < self.count and (not self._recent or self._recent[0][0] > n + 1):
            return None
        return [
            (self.global_id(k), published)
            for k, published in self._recent
            if k > n and (not prefixes or published.topic.startswith(prefixes))
        ]
