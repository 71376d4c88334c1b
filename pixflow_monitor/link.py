"""The monitor's connection to a worker: two threads that never touch the UI, only post messages to it.

- `run_events`: a SUB socket on the worker's PUB; events are batched (one message per `batch_window`) and,
  within a batch, only the newest preview image of each job is kept (older frames keep their `seq`, lose the bytes).
- `run_requests`: a DEALER on the worker's ROUTER, several requests in flight matched by `req_id`, a timeout on
  each, and a `ping` every `heartbeat` seconds. No answer in time means the worker is unreachable: every request
  in flight fails, the socket is thrown away (so nothing stale is delivered later) and a fresh one keeps pinging
  until the worker answers again (the "lazy pirate" pattern). A worker that restarts faster than the timeout is
  noticed by the `started_at` of the heartbeat's `pong` (`WorkerRestarted`).

With CURVE keys (`pixflow.client.keys.ClientKeys`, docs/security.md) both sockets encrypt and authenticate, as the
Python client's do; a wrong key looks like a worker that does not answer (the handshake fails, nothing is read).
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol

import zmq
from textual.message import Message

from pixflow.client.keys import ClientKeys, apply_keys
from pixflow.client.tracker import WorkerIdentity
from pixflow.protocol import DEFAULT_PUB_ADDR, DEFAULT_REQ_ADDR, PROTOCOL_VERSION, pack, unpack
from pixflow.vocabulary import JOB_TOPIC_PREFIXES, TOPIC_BACKEND, TOPIC_PREVIEW, TOPIC_STATS
from pixflow_monitor.messages import (
    Event,
    EventsReceived,
    LinkDown,
    LinkUp,
    ReplyReceived,
    RequestFailed,
    WorkerRestarted,
)
from pixflow_monitor.request import Request

Post = Callable[[Message], object]
SUBSCRIPTIONS = tuple(topic.encode() for topic in (*JOB_TOPIC_PREFIXES, TOPIC_BACKEND, TOPIC_STATS))
POLL_MS = 100  # how often the threads look at their stop flag when idle


class Link(Protocol):
    """What the app needs from a connection; tests substitute a scripted one."""

    req_addr: str
    pub_addr: str
    timeout: float

    def run_events(self, post: Post, stop: threading.Event) -> None: ...

    def run_requests(self, post: Post, stop: threading.Event) -> None: ...

    def request(self, request: Request) -> None: ...


def coalesce_previews(events: list[Event]) -> list[Event]:
    """Drop the image bytes of every preview superseded by a newer one of the same job in this batch."""
    newest: dict[str, int] = {}
    for index, (topic, _) in enumerate(events):
        if topic.startswith(TOPIC_PREVIEW):
            newest[topic] = index
    if len(newest) == sum(1 for topic, _ in events if topic.startswith(TOPIC_PREVIEW)):
        return events
    return [
        (topic, {**event, "image": None})
        if topic.startswith(TOPIC_PREVIEW) and newest[topic] != index
        else (topic, event)
        for index, (topic, event) in enumerate(events)
    ]


class ZmqLink:
    def __init__(
        self,
        req_addr: str = DEFAULT_REQ_ADDR,
        pub_addr: str = DEFAULT_PUB_ADDR,
        timeout: float = 3.0,
        heartbeat: float = 1.0,
        batch_window: float = 0.05,
        context: zmq.Context | None = None,
        keys: ClientKeys | None = None,
    ) -> None:
        self.req_addr, self.pub_addr = req_addr, pub_addr
        self.keys = keys
        self.timeout, self.heartbeat, self.batch_window = timeout, heartbeat, batch_window
        self._context = context or zmq.Context.instance()
        self._outbox: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)

    # Called from any thread (the UI's).
    def request(self, request: Request) -> None:
        self._outbox.put(request)
        with contextlib.suppress(BlockingIOError):  # a full wake-up pipe: the requests thread is awake anyway
            self._wake_write.send(b"\0")

    # The events thread.
    def run_events(self, post: Post, stop: threading.Event) -> None:
        sub = apply_keys(self.keys, self._context.socket(zmq.SUB))
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.RCVHWM, 100_000)
        sub.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        for topic in SUBSCRIPTIONS:
            sub.setsockopt(zmq.SUBSCRIBE, topic)
        sub.connect(self.pub_addr)
        try:
            while not stop.is_set():
                if not sub.poll(POLL_MS):
                    continue
                batch = self._read_batch(sub, stop)
                if batch:
                    post(EventsReceived(coalesce_previews(batch)))
        finally:
            sub.close(0)

    def _read_batch(self, sub: zmq.Socket, stop: threading.Event) -> list[Event]:
        batch: list[Event] = []
        deadline = time.monotonic() + self.batch_window
        while not stop.is_set():
            try:
                topic, payload = sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sub.poll(max(1, int(remaining * 1000))):
                    break
                continue
            except ValueError:  # not two frames: not an event of this protocol
                continue
            try:
                event = unpack(payload)
            except Exception:  # msgpack raises several unrelated types for bad input
                continue
            if isinstance(event, dict):
                batch.append((topic.decode(errors="replace"), event))
        return batch

    # The requests thread.
    def run_requests(self, post: Post, stop: threading.Event) -> None:
        Requester(self, post, stop).run()


class Requester:
    """The state of the requests thread: one DEALER at a time, requests in flight, whether the worker answers."""

    def __init__(self, link: ZmqLink, post: Post, stop: threading.Event) -> None:
        self.link, self.post, self.stop = link, post, stop
        self.dealer: zmq.Socket | None = None
        self.in_flight: dict[int, tuple[Request, float]] = {}
        self.req_ids = itertools.count(1)
        self.up: bool | None = None  # None: not known yet
        self.identity = WorkerIdentity()  # the started_at of the pongs
        self.next_ping = 0.0

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.link._wake_read, zmq.POLLIN)
        try:
            while not self.stop.is_set():
                if self.dealer is None:
                    self.dealer = self._new_dealer()
                    poller.register(self.dealer, zmq.POLLIN)
                self._heartbeat()
                self._send_queued()
                ready = dict(poller.poll(self._poll_ms()))
                if self.link._wake_read.fileno() in ready:  # zmq.Poller answers plain sockets by their fd
                    self._drain_wakeups()
                if self.dealer in ready:
                    self._receive()
                if self._expire():
                    poller.unregister(self.dealer)
                    self.dealer.close(0)
                    self.dealer = None
        finally:
            if self.dealer is not None:
                self.dealer.close(0)

    def _new_dealer(self) -> zmq.Socket:
        dealer = apply_keys(self.link.keys, self.link._context.socket(zmq.DEALER))
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        dealer.connect(self.link.req_addr)
        return dealer

    def _heartbeat(self) -> None:
        now = time.monotonic()
        pinging = any(request.kind == "ping" and not request.purpose for request, _ in self.in_flight.values())
        if now >= self.next_ping and not pinging:
            self._send(Request("ping"))
            self.next_ping = now + self.link.heartbeat

    def _send_queued(self) -> None:
        while True:
            try:
                request = self.link._outbox.get_nowait()
            except queue.Empty:
                return
            self._send(request)

    def _send(self, request: Request) -> None:
        assert self.dealer is not None
        req_id = next(self.req_ids)
        payload = pack({"type": request.kind, "v": PROTOCOL_VERSION, **request.fields, "req_id": req_id})
        try:
            self.dealer.send_multipart([b"", payload], zmq.NOBLOCK)
        except zmq.Again:
            self._fail(request, "unreachable", f"could not send to {self.link.req_addr}: its queue is full")
            return
        self.in_flight[req_id] = (request, time.monotonic() + self.link.timeout)

    def _poll_ms(self) -> int:
        deadlines = [deadline for _, deadline in self.in_flight.values()] + [self.next_ping]
        wait = min(deadlines) - time.monotonic()
        return max(1, min(POLL_MS, int(wait * 1000) + 1))

    def _drain_wakeups(self) -> None:
        try:
            while self.link._wake_read.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _receive(self) -> None:
        assert self.dealer is not None
        while True:
            try:
                frames = self.dealer.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                reply = unpack(frames[-1])
            except Exception:  # msgpack raises several unrelated types for bad input
                continue
            if not isinstance(reply, dict):
                continue
            req_id = reply.get("req_id")
            entry = self.in_flight.pop(req_id, None) if isinstance(req_id, int) else None
            if entry is None:
                continue  # a late answer to a request already failed
            was_up = self.up
            self._set_up(True, "")
            request = entry[0]
            if request.kind == "ping" and not request.purpose:  # the heartbeat
                # Coming up, LinkUp makes the app read everything anyway; while up, only a restart does.
                if self.identity.observe(reply.get("started_at")) and was_up and self.identity.started_at:
                    self.post(WorkerRestarted(self.identity.started_at))
                continue
            self.post(ReplyReceived(request, reply))

    def _expire(self) -> bool:
        """Fail everything in flight if anything timed out; True when the socket must be replaced."""
        now = time.monotonic()
        if not any(deadline <= now for _, deadline in self.in_flight.values()):
            return False
        message = f"no reply from the worker at {self.link.req_addr} within {self.link.timeout:g}s"
        for request, _ in self.in_flight.values():
            self._fail(request, "timeout", message)
        self.in_flight.clear()
        self._set_up(False, message)
        self.next_ping = 0.0  # ping again at once on the fresh socket
        return True

    def _fail(self, request: Request, code: str, message: str) -> None:
        if request.kind == "ping" and not request.purpose:
            return
        self.post(RequestFailed(request, code, message))

    def _set_up(self, up: bool, reason: str) -> None:
        if up == self.up:
            return
        self.up = up
        self.post(LinkUp() if up else LinkDown(reason))
