"""Sockets the worker loop waits on besides its own: each with what to call, on the loop, when it is ready.

The backends' WebSockets (comfy/event_socket.py) and their image downloads (comfy/loop_http.py) are served here: the
worker's poller waits on them with its ROUTER socket and its inbox, so one `poll` waits on everything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import zmq

log = logging.getLogger(__name__)

Schedule = Callable[[float, Callable[[], None]], None]  # a timer on the loop: (delay in seconds, callback)


class Watcher:
    def __init__(self) -> None:
        self.poller = zmq.Poller()
        self._readers: dict[int, Callable[[int], None]] = {}

    def watch(self, fd: int, on_ready: Callable[[int], None], events: int = zmq.POLLIN) -> None:
        """on_ready(the events that are ready), for the events asked (zmq.POLLIN, zmq.POLLOUT); again: changes them."""
        self._readers[fd] = on_ready
        self.poller.register(fd, events)

    def unwatch(self, fd: int) -> None:
        """Before the socket closes: a new socket may soon have the same number."""
        if self._readers.pop(fd, None) is not None:
            self.poller.unregister(fd)

    def poll(self, timeout_ms: int) -> dict[Any, int]:
        return dict(self.poller.poll(timeout_ms))

    def serve_ready(self, ready: dict[Any, int]) -> None:
        for fd in [fd for fd in self._readers if fd in ready]:
            on_ready = self._readers.get(fd)  # an earlier one may have let this one go
            if on_ready is None:
                continue
            try:
                on_ready(ready[fd])
            except Exception:  # a bug: the loop keeps serving (what the socket's owner handles, it handles itself)
                log.exception("serving socket %d failed", fd)
