"""One ComfyUI server as seen by the worker: its WebSocket, read on the loop, and HTTP threads.

The WebSocket is opened on a thread of its own (opening may block), then handed to the loop, which reads it with
its other sockets (comfy/event_socket.py) and keeps it alive with pings. The HTTP threads never touch jobs: they
take commands from queues and post what happened to the loop as the messages of comfy/messages.py; the loop alone
decides what that means.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixflow.comfy import commands
from pixflow.comfy.client import FEATURE_FLAGS, ComfyClient
from pixflow.comfy.control_lane import ControlLane
from pixflow.comfy.event_socket import EventSocket, SocketClosed
from pixflow.comfy.loop_fetch import LoopFetch
from pixflow.comfy.loop_http import LoopHttp
from pixflow.comfy.messages import (
    BackendDown,
    BackendEvent,
    BackendUp,
    CommandFailed,
    ControlDone,
    HealthMessage,
    JobResult,
    LoopMessage,
)
from pixflow.outbox import Outbox
from pixflow.watcher import Schedule, Watcher

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
MAX_BACKOFF = 10.0
MAX_LIVENESS_STEP = 1.0  # how often, at most, the loop looks at a silent socket


Post = Callable[[LoopMessage], None]
Report = Callable[[JobResult | HealthMessage | None], None]  # what a backend thread does with a command's result


@dataclass(frozen=True)
class LoopLink:
    """What a backend needs of the worker loop."""

    post: Post  # from any thread: into the inbox
    deliver: Post  # on the loop, now: what the WebSocket said
    schedule: Schedule  # on the loop: a timer
    watcher: Watcher  # on the loop: a socket to read when it is readable
    outbox: Outbox  # on the loop: commands wait for the turn's commit


class Backend:
    def __init__(
        self,
        name: str,
        url: str,
        link: LoopLink,
        http_timeout: float = 10.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 5.0,
        fetch_workers: int = 3,
    ) -> None:
        self.name = name
        self._link = link
        self._outbox = link.outbox
        self._ping_interval, self._ping_timeout = ping_interval, ping_timeout
        self.url = url.rstrip("/")
        self._post = link.post
        # One HTTP connection per thread: control is one ordered thread; downloads run on a small pool, so a
        # slow download never delays a submission and several finished prompts are saved at once. The loop uses
        # the control thread's client only to build requests and read answers, never its connection.
        self._client = ComfyClient(self.url, timeout=http_timeout)
        self._fetch_clients = [ComfyClient(self.url, timeout=http_timeout) for _ in range(fetch_workers)]
        # SimpleQueue: a put from the loop is one C call (queue.Queue's Condition cost the loop ~6 % of its CPU).
        self._commands: queue.SimpleQueue[commands.Command | None] = queue.SimpleQueue()
        self._fetches: queue.SimpleQueue[commands.Command | None] = queue.SimpleQueue()
        # Plain HTTP: images the events named are downloaded on the loop (comfy/loop_fetch.py), up to
        # fetch_workers at a time; the threads ask /history for the rest, and serve https, proxies and auth.
        # Control commands, in order; a plain submission is POSTed by the loop on a connection of its own.
        self._loop_transfers: list[LoopHttp] = []
        self._loop_fetch: LoopFetch | None = None
        control_http: LoopHttp | None = None
        if self._client.direct:
            fetch_http = LoopHttp(link.watcher, link.schedule, http_timeout, fetch_workers)
            control_http = LoopHttp(link.watcher, link.schedule, http_timeout, 1)
            self._loop_transfers = [fetch_http, control_http]
            self._loop_fetch = LoopFetch(self._client, fetch_http, link.deliver, self._fetches.put)
        self._lane = ControlLane(self._client, control_http, self._commands.put, link.deliver)
        self._stop = threading.Event()
        self._lost = threading.Event()  # set by the loop when the WebSocket is gone: the thread opens another
        # The open WebSocket and its liveness: the loop's alone.
        self._events: EventSocket | None = None
        self._last_frame = 0.0
        self._ping_sent: float | None = None
        self._threads = [
            threading.Thread(target=self._keep_connected, name=f"ws-{name}", daemon=True),
            self._thread(f"http-{name}", self._commands, self._client, self._control_done),
            *(
                self._thread(f"fetch-{name}-{i}", self._fetches, client, self._result)
                for i, client in enumerate(self._fetch_clients)
            ),
        ]

    # Called from the worker loop.
    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.close()
        self.join(timeout)

    def close(self) -> None:
        """On the loop: close the WebSocket, tell the threads to end (join() waits for them)."""
        self._stop.set()
        self._commands.put(None)
        for _ in self._fetch_clients:
            self._fetches.put(None)
        self._close_events()
        self._lost.set()
        self._lane.clear()
        for http in self._loop_transfers:
            http.close()

    def join(self, timeout: float = 5.0) -> None:
        """From any thread, after close()."""
        for thread in self._threads:
            thread.join(timeout)
        for client in (self._client, *self._fetch_clients):
            client.close()

    def submit(
        self,
        job_id: str,
        prompt_id: str,
        graph: dict[str, Any],
        client_id: str,
        images: tuple[tuple[str, Path], ...] = (),
    ) -> None:
        """POST the prompt; its input images (name in ComfyUI, file) are uploaded first, on the same thread."""
        self._control(commands.Submit(job_id, prompt_id, graph, client_id, images))

    def cancel(self, job_id: str, prompt_id: str) -> None:
        self._control(commands.Cancel(job_id, prompt_id))

    def refresh_info(self) -> None:
        self._control(commands.RefreshInfo())

    def reconcile(self, job_id: str, prompt_id: str) -> None:
        self._control(commands.Reconcile(job_id, prompt_id))

    def withdraw(self, job_id: str, prompt_id: str) -> None:
        self._control(commands.Withdraw(job_id, prompt_id))

    def discard(self, prompt_id: str) -> None:
        self._control(commands.Discard(prompt_id))

    def interrupt_all(self) -> None:
        self._control(commands.InterruptAll())

    def _control(self, command: commands.Command) -> None:
        """Into the control lane, once the loop turn that asked for it is committed (pixflow/outbox.py)."""
        self._outbox.send(self._lane.add, command)

    def control_done(self) -> None:
        """On the loop: the control thread has carried out its command (a ControlDone came)."""
        self._lane.thread_done()

    def fetch_outputs(
        self,
        job_id: str,
        prompt_id: str,
        job_dir: Path,
        sidecar: dict[str, Any],
        node_outputs: dict[str, Any] | None = None,
    ) -> None:
        command = commands.FetchOutputs(job_id, prompt_id, job_dir, sidecar, node_outputs)
        if node_outputs and self._loop_fetch is not None:
            self._outbox.send(self._loop_fetch.start, command)  # the events named the images: download on the loop
        else:
            self._outbox.send(self._fetches.put, command)

    # The WebSocket: opened on its thread, then read on the loop.
    def _keep_connected(self) -> None:
        """The thread: open a WebSocket, hand it to the loop, wait until the loop says it is gone; again."""
        backoff = 0.25
        while not self._stop.is_set():
            client_id = uuid.uuid4().hex  # never reuse one: see docs/comfyui.md
            try:
                events = EventSocket.open(self._client.socket_url(client_id), CONNECT_TIMEOUT, FEATURE_FLAGS)
            except (OSError, SocketClosed) as e:
                self._post(BackendDown(self.name, f"ComfyUI at {self.url} is unreachable: {e}"))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            backoff = 0.25
            self._lost.clear()
            self._post(BackendUp(self.name, client_id, events))  # the loop calls attach()
            self._lost.wait()

    def attach(self, events: EventSocket) -> None:
        """On the loop, once it has taken the BackendUp: read this socket from now on."""
        if self._stop.is_set():
            events.close()
            return
        self._close_events()
        self._events, self._last_frame, self._ping_sent = events, time.monotonic(), None
        self._link.watcher.watch(events.fileno(), lambda _: self._read())
        self._link.schedule(0.0, self._read)  # frames that came with the upgrade's answer
        self._watch_liveness(events)

    def _read(self) -> None:
        events = self._events
        if events is None:
            return
        try:
            received = events.read()
        except SocketClosed as e:
            self._lose(f"lost the WebSocket to ComfyUI at {self.url}: {e}")
            return
        self._last_frame, self._ping_sent = time.monotonic(), None
        for event in received:
            self._link.deliver(BackendEvent(self.name, event))

    def _watch_liveness(self, events: EventSocket) -> None:
        """A silent socket is pinged; one that does not answer in time is dead."""
        if self._events is not events:
            return  # that socket is gone: this timer ends with it
        now = time.monotonic()
        if self._ping_sent is not None and now - self._ping_sent > self._ping_timeout:
            self._lose(f"no answer to a ping for {self._ping_timeout:g}s: the WebSocket to {self.url} is dead")
            return
        if self._ping_sent is None and now - self._last_frame > self._ping_interval:
            try:
                events.ping()
            except SocketClosed as e:
                self._lose(f"lost the WebSocket to ComfyUI at {self.url}: {e}")
                return
            self._ping_sent = now
        step = min(min(self._ping_interval, self._ping_timeout) / 4, MAX_LIVENESS_STEP)
        self._link.schedule(step, lambda: self._watch_liveness(events))

    def _lose(self, reason: str) -> None:
        self._close_events()
        if not self._stop.is_set():
            self._link.deliver(BackendDown(self.name, reason))
            self._lost.set()  # the thread opens another

    def _close_events(self) -> None:
        events, self._events = self._events, None
        if events is not None:
            self._link.watcher.unwatch(events.fileno())
            events.close()

    # The HTTP threads: one for control (ordered), one for downloads (slow, never blocks control).
    def _thread(
        self, name: str, queued: queue.SimpleQueue[commands.Command | None], client: ComfyClient, report: Report
    ) -> threading.Thread:
        return threading.Thread(target=self._serve, args=(queued, client, report), name=name, daemon=True)

    def _serve(self, queued: queue.SimpleQueue[commands.Command | None], client: ComfyClient, report: Report) -> None:
        while True:
            command = queued.get()
            if command is None or self._stop.is_set():
                return
            report(self._run(command, client))

    def _result(self, result: JobResult | HealthMessage | None) -> None:
        if result is not None:
            self._post(result)

    def _control_done(self, result: JobResult | HealthMessage | None) -> None:
        """Even a None goes back: the control lane starts its next command on the ControlDone."""
        self._post(ControlDone(self.name, result, self))

    def _run(self, command: commands.Command, client: ComfyClient) -> JobResult | HealthMessage | None:
        try:
            return commands.run(self.name, command, client, self._stop)
        except Exception as e:  # a bug here must not kill the thread: report it against the job
            log.exception("backend %s: %r failed", self.name, command)
            job_id = getattr(command, "job_id", None)
            return CommandFailed(job_id, f"{type(e).__name__}: {e}") if job_id is not None else None
