"""ComfyUI's WebSocket as the worker loop reads it: opened on a backend's thread, read on the loop.

Opening may block (a name to resolve, a TCP connect, TLS, the HTTP upgrade), so `EventSocket.open` runs on the
backend's own thread, with a timeout. From then on the socket is non-blocking and the loop's poller waits on it
with the worker's other sockets: a burst of frames is one `recv` and one parse (wsproto), and an event goes from
ComfyUI to the subscribers without a thread hop. websocket-client, before, read two or three times a frame on a
thread of its own, and each read handed the GIL back and forth with the loop (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from pixflow.comfy.events import ComfyEvent, parse_binary, parse_text

READ_SIZE = 256 * 1024  # one read takes a whole burst of frames (a preview is a few KiB)


class SocketClosed(Exception):
    """The WebSocket is gone: closed by ComfyUI, reset, or broken mid-frame. The message says which."""


class EventSocket:
    def __init__(self, sock: socket.socket, connection: WSConnection, early: list[Event]) -> None:
        self._sock = sock
        self._ws = connection
        self._early = early  # frames that came in the same read as the upgrade's answer
        self._text: list[str] = []  # a text message's fragments until its last one
        self._bytes: list[bytes] = []

    @classmethod
    def open(cls, url: str, timeout: float, first_message: object) -> EventSocket:
        """Connect to ws:// or wss:// `url`, upgrade, send `first_message` as JSON; blocking, at most `timeout`
        for each step. Raises OSError (refused, timed out, TLS) or SocketClosed (the upgrade was refused)."""
        parts = urlsplit(url)
        secure = parts.scheme == "wss"
        host = parts.hostname or "localhost"
        sock = socket.create_connection((host, parts.port or (443 if secure else 80)), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if secure:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            connection = WSConnection(ConnectionType.CLIENT)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            sock.sendall(connection.send(Request(host=parts.netloc, target=target)))
            early = _await_upgrade(sock, connection, url)
            sock.sendall(connection.send(TextMessage(data=json.dumps(first_message))))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return cls(sock, connection, early)

    def fileno(self) -> int:
        return self._sock.fileno()

    def read(self) -> list[ComfyEvent]:
        """Every event that has arrived, without blocking. Raises SocketClosed when the socket is gone."""
        while True:
            try:
                data = self._sock.recv(READ_SIZE)
            except (BlockingIOError, ssl.SSLWantReadError):
                break
            except OSError as e:
                raise SocketClosed(f"the WebSocket failed: {e}") from e
            if not data:
                raise SocketClosed("ComfyUI closed the connection")
            self._ws.receive_data(data)
            if len(data) < READ_SIZE and not isinstance(self._sock, ssl.SSLSocket):
                break  # a short read drained the socket (TLS may hold decrypted bytes back: read to the end)
        frames, self._early = self._early, []
        try:
            frames.extend(self._ws.events())
        except RemoteProtocolError as e:
            raise SocketClosed(f"ComfyUI broke the WebSocket protocol: {e}") from e
        return self._parse(frames)

    def _parse(self, frames: list[Event]) -> list[ComfyEvent]:
        events: list[ComfyEvent] = []
        for frame in frames:
            parsed: ComfyEvent | None = None
            match frame:
                case TextMessage(data=data, message_finished=finished):
                    self._text.append(data)
                    if finished:
                        parsed = parse_text("".join(self._text))
                        self._text.clear()
                case BytesMessage(data=data, message_finished=finished):
                    self._bytes.append(bytes(data))
                    if finished:
                        parsed = parse_binary(b"".join(self._bytes))
                        self._bytes.clear()
                case Ping():
                    self._send(frame.response())
                case Pong():
                    pass  # any frame shows the socket alive: the reader notes when it last read
                case CloseConnection(code=code, reason=reason):
                    with contextlib.suppress(OSError, LocalProtocolError, SocketClosed):
                        self._send(frame.response())
                    raise SocketClosed(f"ComfyUI closed the WebSocket ({code}{f': {reason}' if reason else ''})")
            if parsed is not None:
                events.append(parsed)
        return events

    def ping(self) -> None:
        self._send(Ping())

    def _send(self, event: Event) -> None:
        try:
            self._sock.send(self._ws.send(event))  # control frames of a few bytes: never more than the buffer
        except (OSError, LocalProtocolError) as e:
            raise SocketClosed(f"cannot write to the WebSocket: {e}") from e

    def close(self) -> None:
        with contextlib.suppress(OSError, LocalProtocolError):
            self._sock.send(self._ws.send(CloseConnection(code=1000)))
        self._sock.close()


def _await_upgrade(sock: socket.socket, connection: WSConnection, url: str) -> list[Event]:
    """Read until the server accepts the upgrade; the frames read with its answer are kept for the first read."""
    while True:
        data = sock.recv(READ_SIZE)
        if not data:
            raise SocketClosed(f"{url} closed the connection during the WebSocket upgrade")
        connection.receive_data(data)
        events = list(connection.events())
        for n, event in enumerate(events):
            if isinstance(event, AcceptConnection):
                return events[n + 1 :]
            if isinstance(event, RejectConnection | RejectData):
                status = getattr(event, "status_code", "")
                raise SocketClosed(f"{url} refused the WebSocket upgrade {status}".rstrip())
