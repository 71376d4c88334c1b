"""ComfyUI's WebSocket as the worker loop reads it: opened on a backend's thread, read on the loop.

Opening may block (a name to resolve, a TCP connect, TLS, the HTTP upgrade), so `EventSocket.open` runs on the
backend's own thread, with a timeout. From then on the socket is non-blocking and the loop's poller waits on it
with the worker's other sockets: a burst of frames is one `recv` and one decode (comfy/ws_frames.py), and an event
goes from ComfyUI to the subscribers without a thread hop. websocket-client, before, read two or three times a
frame on a thread of its own, and each read handed the GIL back and forth with the loop (docs/performance.md).
wsproto does the upgrade and writes pixflow's few frames (the feature flags, pings, pongs, the close).
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
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError

from pixflow.comfy.events import ComfyEvent, parse_binary, parse_text
from pixflow.comfy.ws_frames import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, FrameReader, ProtocolError

READ_SIZE = 256 * 1024  # one read takes a whole burst of frames (a preview is a few KiB)
MAX_UPGRADE_ANSWER = 64 * 1024


class SocketClosed(Exception):
    """The WebSocket is gone: closed by ComfyUI, reset, or broken mid-frame. The message says which."""


class EventSocket:
    def __init__(self, sock: socket.socket, connection: WSConnection, early: bytes) -> None:
        self._sock = sock
        self._ws = connection
        self._frames = FrameReader()
        self._early = early  # bytes that came after the upgrade's answer, in the same read
        # One buffer for the socket's life: `recv(256 KiB)` would allocate (and glibc map and unmap) one per read.
        self._buffer = bytearray(READ_SIZE)
        self._view = memoryview(self._buffer)

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
        messages, self._early = self._feed(self._early) if self._early else [], b""
        while True:
            try:
                size = self._sock.recv_into(self._buffer)
            except (BlockingIOError, ssl.SSLWantReadError):
                break
            except OSError as e:
                raise SocketClosed(f"the WebSocket failed: {e}") from e
            if not size:
                raise SocketClosed("ComfyUI closed the connection")
            messages += self._feed(self._view[:size].tobytes())
            if size < READ_SIZE and not isinstance(self._sock, ssl.SSLSocket):
                break  # a short read drained the socket (TLS may hold decrypted bytes back: read to the end)
        return self._parse(messages)

    def _feed(self, data: bytes) -> list[tuple[int, bytes]]:
        try:
            return self._frames.feed(data)
        except ProtocolError as e:
            raise SocketClosed(f"ComfyUI broke the WebSocket protocol: {e}") from e

    def _parse(self, messages: list[tuple[int, bytes]]) -> list[ComfyEvent]:
        events: list[ComfyEvent] = []
        for opcode, payload in messages:
            parsed: ComfyEvent | None = None
            if opcode == OP_TEXT:
                parsed = parse_text(payload.decode("utf-8", "replace"))  # JSON parsing rejects what is malformed
            elif opcode == OP_BINARY:
                parsed = parse_binary(payload)
            elif opcode == OP_PING:
                self._send(Pong(payload=payload))
            elif opcode == OP_CLOSE:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                reason = payload[2:].decode("utf-8", "replace")
                with contextlib.suppress(SocketClosed):
                    self._send(CloseConnection(code=1000))
                raise SocketClosed(f"ComfyUI closed the WebSocket ({code}{f': {reason}' if reason else ''})")
            # A pong needs nothing: any frame shows the socket alive (the reader notes when it last read).
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


def _await_upgrade(sock: socket.socket, connection: WSConnection, url: str) -> bytes:
    """Read the upgrade's answer, up to its blank line, for wsproto; what follows it is frames (returned)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise SocketClosed(f"{url} closed the connection during the WebSocket upgrade")
        data += chunk
        if len(data) > MAX_UPGRADE_ANSWER:
            raise SocketClosed(f"{url} answered the WebSocket upgrade with more than {MAX_UPGRADE_ANSWER} bytes")
    head, _, rest = data.partition(b"\r\n\r\n")
    connection.receive_data(head + b"\r\n\r\n")
    for event in connection.events():
        if isinstance(event, AcceptConnection):
            return rest
        if isinstance(event, RejectConnection | RejectData):
            status = getattr(event, "status_code", "")
            raise SocketClosed(f"{url} refused the WebSocket upgrade {status}".rstrip())
    raise SocketClosed(f"{url} did not accept the WebSocket upgrade")
