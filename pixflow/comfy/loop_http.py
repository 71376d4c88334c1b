"""HTTP transfers run by the worker loop itself: libcurl's multi interface, its sockets waited on with the loop's own.

Every backend's submissions (uploads, then POST /prompt) and downloads (/history when needed, then each image) run
here, through the backend's one transport (comfy/transport.py: http or https, a proxy, .netrc): no thread hop on a
job's way (a download thread, before, handed the GIL back and forth with the loop on every read, docs/performance.md).
libcurl moves the bytes; the loop only hears that a socket is ready or a timer is due, and gets each answer whole.
Transfers run side by side, at most `parallel` at a time, the rest wait in order.
"""

from __future__ import annotations

import io
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import pycurl
import zmq

from pixflow.comfy.client import Answer
from pixflow.comfy.transport import Transport, Upload, prepare, prepare_upload
from pixflow.loop.watcher import Schedule, Watcher

log = logging.getLogger(__name__)

Done = Callable[[Answer | str], None]  # the answer, or why the exchange failed


@dataclass
class _Transfer:
    url: str
    body: bytes | Upload | None  # None: a GET
    done: Done
    answer: io.BytesIO


class LoopHttp:
    def __init__(self, watcher: Watcher, schedule: Schedule, transport: Transport, parallel: int) -> None:
        self._watcher, self._schedule = watcher, schedule
        self._transport, self._parallel = transport, parallel
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        self._idle: list[pycurl.Curl] = []  # handles to reuse (the multi handle keeps their connections alive)
        self._running: dict[pycurl.Curl, _Transfer] = {}
        self._waiting: deque[_Transfer] = deque()
        # libcurl asks for a new deadline often (several a transfer, 1 s and 10 s ahead) and the loop's timers
        # cannot be cancelled: keep libcurl's one deadline here, and at most a few loop timers, none past it.
        self._deadline: float | None = None
        self._armed: list[float] = []  # when the loop timers set so far are due
        self._watched: set[int] = set()

    def get(self, url: str, done: Done) -> None:
        """On the loop: GET url; done(answer or reason) is called on the loop, in a later turn."""
        self.request(url, None, done)

    def request(self, url: str, body: bytes | Upload | None, done: Done) -> None:
        """On the loop: GET url, or POST body to it (JSON, or a multipart upload); done(answer or reason) is called
        on the loop, in a later turn."""
        self._waiting.append(_Transfer(url, body, done, io.BytesIO()))
        self._start_waiting()

    def close(self) -> None:
        for curl in list(self._running):
            self._multi.remove_handle(curl)
            curl.close()
        for fd in self._watched:
            self._watcher.unwatch(fd)
        self._watched.clear()
        for curl in self._idle:
            curl.close()
        self._running.clear()
        self._waiting.clear()
        self._multi.close()

    @property
    def busy(self) -> bool:
        return bool(self._running or self._waiting)

    def _start_waiting(self) -> None:
        while self._waiting and len(self._running) < self._parallel:
            transfer = self._waiting.popleft()
            if isinstance(transfer.body, Upload):
                curl = self._transport.handle()  # a form stays set on its handle: closed after (_release)
                prepare_upload(curl, transfer.url, transfer.body, transfer.answer)
            else:
                curl = self._idle.pop() if self._idle else self._transport.handle()
                prepare(curl, transfer.url, transfer.body, transfer.answer)
            self._running[curl] = transfer
            self._multi.add_handle(curl)  # libcurl asks for a timer (due at once) to start it: never done here

    # libcurl's callbacks: which sockets to wait on, when to call it back.
    def _on_socket(self, what: int, fd: int, _multi: object, _data: object) -> None:
        events = (zmq.POLLIN if what & pycurl.POLL_IN else 0) | (zmq.POLLOUT if what & pycurl.POLL_OUT else 0)
        if what == pycurl.POLL_REMOVE or not events:
            self._watched.discard(fd)
            self._watcher.unwatch(fd)
            return
        self._watched.add(fd)
        self._watcher.watch(fd, lambda ready: self._act(fd, ready), events)

    def _on_timer(self, timeout_ms: int) -> None:
        self._deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        self._arm()

    def _arm(self) -> None:
        """A loop timer at libcurl's deadline, unless one is set already that is due no later."""
        deadline = self._deadline
        if deadline is None or any(due <= deadline for due in self._armed):
            return
        self._armed.append(deadline)
        self._schedule(max(0.0, deadline - time.monotonic()), lambda: self._on_due(deadline))

    def _on_due(self, due: float) -> None:
        self._armed.remove(due)
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self._deadline = None
            self._act(pycurl.SOCKET_TIMEOUT, 0)
        self._arm()  # a later deadline that an earlier timer stood for

    def _act(self, fd: int, ready: int) -> None:
        flags = (pycurl.CSELECT_IN if ready & zmq.POLLIN else 0) | (pycurl.CSELECT_OUT if ready & zmq.POLLOUT else 0)
        flags |= pycurl.CSELECT_ERR if ready & zmq.POLLERR else 0
        self._multi.socket_action(fd, flags)
        self._collect()

    def _collect(self) -> None:
        finished: list[tuple[_Transfer, Answer | str]] = []
        while True:
            queued, succeeded, failed = self._multi.info_read()
            for curl in succeeded:
                status = curl.getinfo(pycurl.RESPONSE_CODE)  # before _release, which may close the handle
                transfer = self._release(curl)
                finished.append((transfer, Answer(status, transfer.answer.getvalue())))
            for curl, _code, message in failed:
                finished.append((self._release(curl), str(message)))
            if not queued:
                break
        self._start_waiting()
        for transfer, outcome in finished:
            try:
                transfer.done(outcome)
            except Exception:  # a bug in one answer's handling: the others still get theirs
                log.exception("handling the answer from %s failed", transfer.url)

    def _release(self, curl: pycurl.Curl) -> _Transfer:
        self._multi.remove_handle(curl)
        transfer = self._running.pop(curl)
        if isinstance(transfer.body, Upload):
            curl.close()  # its connection stays in the multi handle's cache for the next transfer
        else:
            self._idle.append(curl)
        return transfer
