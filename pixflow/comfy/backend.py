"""One ComfyUI server as seen by the worker: its WebSocket and its HTTP transfers, on the loop; no thread of its own.

Its WebSocket is opened by the worker's socket opener (comfy/opener.py), then read by the loop with its other
sockets (comfy/event_socket.py) and kept alive with pings. Its submissions and downloads are libcurl transfers the
loop runs (comfy/loop_http.py); the control commands the loop does not carry out itself run on the worker's shared
control pool, and the files it downloaded are written by the shared file writers (comfy/threads.py). Those threads
never touch jobs: they post what happened to the loop as the messages of comfy/messages.py; the loop alone decides
what that means.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
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
    JobResult,
    LoopMessage,
)
from pixflow.comfy.opener import Opening
from pixflow.comfy.outputs import PostProcess
from pixflow.comfy.threads import BackendThreads
from pixflow.comfy.ws_upgrade import Upgrade, first_frame
from pixflow.loop.outbox import Outbox
from pixflow.loop.watcher import Schedule, Watcher

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
MAX_LIVENESS_STEP = 1.0  # how often, at most, the loop looks at a silent socket


Post = Callable[[LoopMessage], None]


@dataclass(frozen=True)
class LoopLink:
    """What a backend needs of the worker loop, and the threads every backend of the worker shares."""

    post: Post  # from any thread: into the inbox
    deliver: Post  # on the loop, now: what the WebSocket said
    schedule: Schedule  # on the loop: a timer
    watcher: Watcher  # on the loop: a socket to read when it is readable
    outbox: Outbox  # on the loop: commands wait for the turn's commit
    threads: BackendThreads = field(default_factory=BackendThreads)  # one set per worker: made with its link


class _Attempt(Upgrade):
    """An upgrade that remembers the clientId its URL names."""

    def __init__(self, url: str, first: bytes, tls: ssl.SSLContext | None, client_id: str) -> None:
        super().__init__(url, first, tls)
        self.client_id = client_id


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
        self._threads = link.threads
        # One transport for every call (comfy/transport.py). The loop uses this client to build requests and read
        # answers; its own connection serves the control commands, one at a time (the lane's order).
        self._client = ComfyClient(self.url, timeout=http_timeout)
        self._tls = self._client.transport.ssl_context() if self._client.ws_url.startswith("wss:") else None
        # Downloads, up to fetch_workers at a time; the lane's transfers on a connection of their own, so a slow
        # download never delays a submission.
        fetch_http = LoopHttp(link.watcher, link.schedule, self._client.transport, fetch_workers)
        control_http = LoopHttp(link.watcher, link.schedule, self._client.transport, 1)
        self._loop_transfers = [fetch_http, control_http]
        self._loop_fetch = LoopFetch(self._client, fetch_http, link.deliver, self._write, link.schedule)
        self._lane = ControlLane(self._client, control_http, self._to_pool, link.deliver, link.schedule)
        self._started = False
        self._stop = threading.Event()
        self._control_idle = threading.Event()  # set: no command of this backend's is on the control pool
        self._control_idle.set()
        self._opening = Opening(self, self._new_attempt, self._opened, self._open_failed, CONNECT_TIMEOUT)
        # The open WebSocket and its liveness: the loop's alone.
        self._events: EventSocket | None = None
        self._last_frame = 0.0
        self._ping_sent: float | None = None

    # Called from the worker loop.
    def start(self) -> None:
        self._threads.acquire()
        self._started = True
        self._threads.opener.open(self._opening)

    def stop(self, timeout: float = 5.0) -> None:
        self.close()
        self.join(timeout)

    def close(self) -> None:
        """On the loop: close the WebSocket and the transfers, stop opening sockets (join() waits for the rest)."""
        self._stop.set()
        if self._started:
            self._threads.opener.cancel(self)
        self._close_events()
        self._lane.clear()
        self._loop_fetch.close()
        for http in self._loop_transfers:
            http.close()

    def join(self, timeout: float = 5.0) -> None:
        """From any thread, after close(): its command on the control pool ends, then its connection."""
        self._control_idle.wait(timeout)
        try:
            self._client.close()  # pycurl refuses while a command still runs on it (past the timeout): it goes with GC
        except Exception as e:
            log.warning("backend %s: its control connection was still busy at the stop: %s", self.name, e)
        finally:
            if self._started:
                self._started = False
                self._threads.release(timeout)

    def submit(
        self,
        job_id: str,
        prompt_id: str,
        graph: dict[str, Any],
        client_id: str,
        images: tuple[tuple[str, Path], ...] = (),
    ) -> None:
        """POST the prompt; its input images (name in ComfyUI, file) are uploaded first, on the loop."""
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
        """Into the control lane, once the loop turn that asked for it is committed (pixflow/loop/outbox.py)."""
        self._outbox.send(self._add, command)

    def _add(self, command: commands.Command) -> None:
        if not self._stop.is_set():  # a closed backend's shared threads may be gone
            self._lane.add(command)

    def control_done(self) -> None:
        """On the loop: the control pool has carried out its command (a ControlDone came)."""
        self._lane.thread_done()

    def fetch_outputs(
        self,
        job_id: str,
        prompt_id: str,
        job_dir: Path,
        sidecar: dict[str, Any],
        node_outputs: dict[str, Any] | None = None,
        post: PostProcess | None = None,
    ) -> None:
        """Download the prompt's images on the loop (asking /history first when node_outputs is None), then write
        them with the sidecar on a file writer (which runs `post`, the sprite steps, on each)."""
        command = commands.FetchOutputs(job_id, prompt_id, job_dir, sidecar, node_outputs, post)
        self._outbox.send(self._fetch, command)

    def _fetch(self, command: commands.FetchOutputs) -> None:
        if not self._stop.is_set():
            self._loop_fetch.start(command)

    # The WebSocket: opened by the worker's opener, then read on the loop.
    def _new_attempt(self) -> Upgrade:
        """On the opener's thread: a fresh clientId for every attempt (never reuse one: see docs/comfyui.md)."""
        client_id = uuid.uuid4().hex
        return _Attempt(
            self._client.socket_url(client_id), first_frame(json.dumps(FEATURE_FLAGS)), self._tls, client_id
        )

    def _opened(self, upgrade: Upgrade) -> None:
        """On the opener's thread."""
        assert isinstance(upgrade, _Attempt)
        self._post(BackendUp(self.name, upgrade.client_id, EventSocket.opened(upgrade)))  # the loop calls attach()

    def _open_failed(self, reason: str) -> None:
        """On the opener's thread; it tries again after a backoff."""
        self._post(BackendDown(self.name, f"ComfyUI at {self.url} is unreachable: {reason}"))

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
            self._threads.opener.open(self._opening)  # another, at once

    def _close_events(self) -> None:
        events, self._events = self._events, None
        if events is not None:
            self._link.watcher.unwatch(events.fileno())
            events.close()

    # What runs on the shared threads.
    def _to_pool(self, command: commands.PoolCommand) -> None:
        """On the loop, from the lane: at most one command of this backend's is out at a time."""
        self._control_idle.clear()
        self._threads.control(lambda: self._run(command))

    def _run(self, command: commands.PoolCommand) -> None:
        """On a control pool thread. Even a None goes back: the lane starts its next command on the ControlDone."""
        try:
            result = None if self._stop.is_set() else commands.run(self.name, command, self._client)
        except Exception as e:  # a bug here must not kill the thread: report it against the job
            log.exception("backend %s: %r failed", self.name, command)
            job_id = getattr(command, "job_id", None)
            result = CommandFailed(job_id, f"{type(e).__name__}: {e}") if job_id is not None else None
        finally:
            self._control_idle.set()
        self._post(ControlDone(self.name, result, self))

    def _write(self, command: commands.WriteOutputs) -> None:
        """On the loop, from the fetch: the files go to a file writer (and the sprite steps to a step process)."""
        if command.post is not None:
            command = dataclasses.replace(command, post=functools.partial(self._threads.run_steps, command.post))
        self._threads.write(lambda: self._post(self._written(command)))

    def _written(self, command: commands.WriteOutputs) -> JobResult:
        """On a file writer: the outputs saved, or why not; a bug is reported against the job, which must end."""
        try:
            return commands.write(command)
        except Exception as e:
            log.exception("backend %s: writing the outputs of %s failed", self.name, command.job_id)
            return CommandFailed(command.job_id, f"{type(e).__name__}: {e}")
