"""The worker's one socket opener: every backend's WebSocket is opened on this thread, all at once.

A backend asks for a socket (`open`) when it starts and whenever the loop loses its socket; the opener keeps
trying, with a backoff, until one opens, then hands it over (`Opening.opened`, called on this thread: the backend
posts it to the loop) and forgets the backend until it asks again. Each attempt is a non-blocking `Upgrade`
(comfy/ws_upgrade.py) waited on with the others, so a host that black-holes SYNs delays no other backend's
reconnect: its own attempt ends at its deadline. Only a name to resolve blocks (getaddrinfo): an IP literal or
/etc/hosts answers at once; a slow DNS server would hold the others up by its delay.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pixflow.comfy.ws_upgrade import SocketClosed, Upgrade

log = logging.getLogger(__name__)

FIRST_BACKOFF = 0.25
MAX_BACKOFF = 10.0


@dataclass(frozen=True)
class Opening:
    """What a backend asks of the opener. Its callbacks run on the opener's thread and must only post."""

    owner: object  # the backend: at most one opening each
    new_attempt: Callable[[], Upgrade]  # a fresh attempt (a fresh clientId each time)
    opened: Callable[[Upgrade], None]
    failed: Callable[[str], None]  # why this attempt failed; the opener tries again later
    timeout: float


@dataclass
class _Attempt:
    opening: Opening
    upgrade: Upgrade | None = None  # None while it waits for its next try
    deadline: float = 0.0
    retry_at: float = 0.0
    backoff: float = FIRST_BACKOFF
    wanted: int = 0  # what its socket waits for: selectors.EVENT_READ or EVENT_WRITE


class SocketOpener:
    def __init__(self, name: str = "ws-opener") -> None:
        self._name = name
        self._requests: queue.SimpleQueue[tuple[str, Opening | object]] = queue.SimpleQueue()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._thread: threading.Thread | None = None
        self._attempts: dict[int, _Attempt] = {}  # id(owner) -> its attempt: the thread's alone

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._ask("stop", None)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def open(self, opening: Opening) -> None:
        """From any thread: open a socket for opening.owner now, and again until one opens."""
        self._ask("open", opening)

    def cancel(self, owner: object) -> None:
        """From any thread: stop trying for this owner (a socket that opens meanwhile is still handed over)."""
        self._ask("cancel", owner)

    def _ask(self, what: str, subject: Opening | object) -> None:
        self._requests.put((what, subject))
        with contextlib.suppress(OSError):  # stopped already
            self._wake_write.send(b"\0")

    # The thread.
    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_read, selectors.EVENT_READ)
            try:
                while self._take_requests():
                    self._turn(selector)
            finally:
                for attempt in self._attempts.values():
                    if attempt.upgrade is not None:
                        attempt.upgrade.close()
                self._attempts.clear()
                self._wake_read.close()
                self._wake_write.close()

    def _take_requests(self) -> bool:
        try:
            while self._wake_read.recv(4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                what, subject = self._requests.get_nowait()
            except queue.Empty:
                return True
            if what == "stop":
                return False
            if what == "cancel":
                self._drop(id(subject))
            elif isinstance(subject, Opening):
                self._drop(id(subject.owner))
                self._attempts[id(subject.owner)] = _Attempt(subject)  # retry_at 0: tried at once

    def _drop(self, key: int) -> None:
        attempt = self._attempts.pop(key, None)
        if attempt is not None and attempt.upgrade is not None:
            attempt.upgrade.close()

    def _turn(self, selector: selectors.BaseSelector) -> None:
        now = time.monotonic()
        for key, attempt in list(self._attempts.items()):
            if attempt.upgrade is None and now >= attempt.retry_at:
                self._begin(key, attempt)
            elif attempt.upgrade is not None and now >= attempt.deadline:
                self._fail(key, attempt, f"opening {attempt.upgrade.url} took more than {attempt.opening.timeout:g}s")
        waits = {key: self._register(selector, attempt) for key, attempt in self._attempts.items() if attempt.upgrade}
        times = [a.deadline if a.upgrade else a.retry_at for a in self._attempts.values()]
        timeout = max(0.0, min(times) - time.monotonic()) if times else None
        ready = selector.select(timeout)
        for fd in waits.values():
            selector.unregister(fd)
        ready_fds = {selector_key.fd for selector_key, _ in ready}
        for key, fd in waits.items():
            waiting = self._attempts.get(key)
            if waiting is not None and waiting.upgrade is not None and fd in ready_fds:
                self._step(key, waiting, waiting.upgrade.step)

    def _register(self, selector: selectors.BaseSelector, attempt: _Attempt) -> int:
        assert attempt.upgrade is not None
        fd = attempt.upgrade.fileno()
        selector.register(fd, attempt.wanted)
        return fd

    def _begin(self, key: int, attempt: _Attempt) -> None:
        try:
            attempt.upgrade = attempt.opening.new_attempt()
        except Exception as e:  # a bug in the backend's callback: keep serving the others
            log.exception("opening a socket failed")
            self._fail(key, attempt, f"{type(e).__name__}: {e}")
            return
        attempt.deadline = time.monotonic() + attempt.opening.timeout
        self._step(key, attempt, attempt.upgrade.start)

    def _step(self, key: int, attempt: _Attempt, step: Callable[[], int | None]) -> None:
        try:
            wanted = step()
        except (OSError, SocketClosed) as e:
            self._fail(key, attempt, str(e))
            return
        except Exception as e:  # e.g. a host name getaddrinfo refuses (UnicodeError): fail this backend, not all
            log.warning("opening a socket failed: %s: %s", type(e).__name__, e)
            self._fail(key, attempt, f"{type(e).__name__}: {e}")
            return
        if wanted is not None:
            attempt.wanted = wanted
            return
        upgrade, attempt.upgrade = attempt.upgrade, None
        del self._attempts[key]
        assert upgrade is not None
        attempt.opening.opened(upgrade)

    def _fail(self, key: int, attempt: _Attempt, reason: str) -> None:
        if attempt.upgrade is not None:
            attempt.upgrade.close()
            attempt.upgrade = None
        attempt.retry_at = time.monotonic() + attempt.backoff
        attempt.backoff = min(attempt.backoff * 2, MAX_BACKOFF)
        attempt.opening.failed(reason)
