"""Opening a WebSocket to ComfyUI without blocking: TCP connect, TLS for wss://, the upgrade, the first message.

An `Upgrade` is a small state machine over one non-blocking socket: each `step` does what the socket allows and says
what to wait for next, so one opener thread (comfy/opener.py) can open the sockets of every backend at once, and a
host that black-holes SYNs holds up nothing but its own attempt (until its deadline). `open_now` runs one to the
end for a caller that may block (tests, tools).
"""

from __future__ import annotations

import base64
import errno
import os
import selectors
import socket
import ssl
import time
from enum import Enum
from typing import Any
from urllib.parse import unquote, urlsplit

from pixflow.comfy.ws_frames import UpgradeRefused, check_upgrade_answer, client_frame, new_key, upgrade_request

MAX_UPGRADE_ANSWER = 64 * 1024
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class SocketClosed(Exception):
    """The WebSocket is gone: closed by ComfyUI, reset, refused, or broken mid-frame. The message says which."""


class _Phase(Enum):
    CONNECT = "connect"
    TLS = "tls"
    SEND = "send"
    ANSWER = "answer"
    FIRST = "first"  # the first message, once the upgrade is accepted


class Upgrade:
    """One attempt at opening `url` (ws:// or wss://). `start` and `step` return what to wait for (READ or WRITE),
    or None once open (then `sock` is the non-blocking socket and `early` the frames that came with the answer).
    They raise OSError (refused, reset, TLS) or SocketClosed (the upgrade was refused)."""

    def __init__(self, url: str, first_message: bytes, tls: ssl.SSLContext | None = None) -> None:
        self.url = url
        parts = urlsplit(url)
        self._secure = parts.scheme == "wss"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (443 if self._secure else 80)
        self._tls = (tls or ssl.create_default_context()) if self._secure else None  # TLS for wss:// only
        self._key = new_key()
        host_header = self._host if parts.port is None else f"{self._host}:{parts.port}"
        if ":" in self._host:  # an IPv6 literal
            host_header = f"[{self._host}]" + (f":{parts.port}" if parts.port else "")
        headers: tuple[tuple[str, str], ...] = ()
        if parts.username is not None:  # user:password in the URL: as the HTTP calls send it (libcurl)
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers = (("Authorization", f"Basic {base64.b64encode(credentials).decode()}"),)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._outgoing = upgrade_request(host_header, target, self._key, headers)
        self._first = first_message  # a whole frame, sent once the upgrade is accepted
        self._answer = b""
        self._addresses: list[tuple[socket.AddressFamily, Any]] = []
        self._phase = _Phase.CONNECT
        self.sock: socket.socket | None = None
        self.early = b""

    def start(self) -> int:
        """Resolve the name (blocking: an IP literal or /etc/hosts answers at once) and start connecting."""
        found = socket.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
        self._addresses = [(family, address) for family, _, _, _, address in found]
        return self._connect_next(OSError(f"{self._host} has no address"))

    def _connect_next(self, last_error: OSError) -> int:
        """The next address the name resolved to (localhost: ::1, then 127.0.0.1), as create_connection tries them."""
        self.close()
        if not self._addresses:
            raise last_error
        family, address = self._addresses.pop(0)
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        error = sock.connect_ex(address)
        if error not in (0, errno.EINPROGRESS, errno.EAGAIN):  # 0: connected at once; else under way
            return self._connect_next(OSError(error, f"connecting to {self._host}:{self._port}: {os.strerror(error)}"))
        self._phase = _Phase.CONNECT
        return WRITE

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def step(self) -> int | None:
        sock = self.sock
        assert sock is not None, "step() after start()"
        try:
            if self._phase == _Phase.CONNECT:
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    reason = OSError(error, f"connecting to {self._host}:{self._port}: {os.strerror(error)}")
                    return self._connect_next(reason)
                if self._tls is not None:
                    self.sock = self._tls.wrap_socket(sock, server_hostname=self._host, do_handshake_on_connect=False)
                    self._phase = _Phase.TLS
                else:
                    self._phase = _Phase.SEND
                return self.step()
            if self._phase == _Phase.TLS:
                assert isinstance(sock, ssl.SSLSocket)
                sock.do_handshake()
                self._phase = _Phase.SEND
                return self.step()
            if self._phase in (_Phase.SEND, _Phase.FIRST):
                while self._outgoing:
                    self._outgoing = self._outgoing[sock.send(self._outgoing) :]
                if self._phase == _Phase.FIRST:
                    return None  # open
                self._phase = _Phase.ANSWER
                return self.step()
            self._read_answer(sock)
            self._outgoing, self._phase = self._first, _Phase.FIRST
            return self.step()
        except BlockingIOError:
            return WRITE if self._phase in (_Phase.SEND, _Phase.FIRST) else READ
        except ssl.SSLWantReadError:
            return READ
        except ssl.SSLWantWriteError:
            return WRITE

    def _read_answer(self, sock: socket.socket) -> None:
        while b"\r\n\r\n" not in self._answer:
            chunk = sock.recv(4096)  # BlockingIOError / SSLWantReadError: wait for more
            if not chunk:
                raise SocketClosed(f"{self.url} closed the connection during the WebSocket upgrade")
            self._answer += chunk
            if len(self._answer) > MAX_UPGRADE_ANSWER:
                raise SocketClosed(
                    f"{self.url} answered the WebSocket upgrade with more than {MAX_UPGRADE_ANSWER} bytes"
                )
        head, _, self.early = self._answer.partition(b"\r\n\r\n")
        try:
            check_upgrade_answer(head, self._key)
        except UpgradeRefused as e:
            raise SocketClosed(f"{self.url} refused the WebSocket upgrade {e}") from e

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def open_now(url: str, timeout: float, first_message: bytes, tls: ssl.SSLContext | None = None) -> Upgrade:
    """One attempt, to the end, blocking this thread at most `timeout`."""
    upgrade = Upgrade(url, first_message, tls)
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        try:
            wanted: int | None = upgrade.start()
            while wanted is not None:
                left = deadline - time.monotonic()
                selector.register(upgrade.fileno(), wanted)
                ready = selector.select(max(0.0, left))
                selector.unregister(upgrade.fileno())
                if not ready:
                    raise TimeoutError(f"opening {url} took more than {timeout:g}s")
                wanted = upgrade.step()
        except BaseException:
            upgrade.close()
            raise
    return upgrade


def first_frame(text: str) -> bytes:
    """The first message, a text frame, ready for `Upgrade`."""
    return client_frame(0x1, text.encode())
