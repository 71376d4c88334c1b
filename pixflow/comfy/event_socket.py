"""ComfyUI's WebSocket as the worker loop reads it: opened by the worker's socket opener, read on the loop.

Opening may take long (a name to resolve, a TCP connect, TLS, the HTTP upgrade), so it is done off the loop
(comfy/opener.py, comfy/ws_upgrade.py). From then on the socket is non-blocking and the loop's poller waits on it
with the worker's other sockets: a burst of frames is one `recv` and one decode (comfy/ws_frames.py), and an event
goes from ComfyUI to the subscribers without a thread hop. websocket-client, before, read two or three times a
frame on a thread of its own, and each read handed the GIL back and forth with the loop (docs/performance.md).
The same codec writes pixflow's few frames (the feature flags, pings, pongs, the close), masked as a client's are.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl

from pixflow.comfy.events import ComfyEvent, parse_binary, parse_text
from pixflow.comfy.ws_frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameReader,
    ProtocolError,
    client_frame,
)
from pixflow.comfy.ws_upgrade import SocketClosed, Upgrade, first_frame, open_now

READ_SIZE = 256 * 1024  # one read takes a whole burst of frames (a preview is a few KiB)

__all__ = ["EventSocket", "SocketClosed"]


class EventSocket:
    def __init__(self, sock: socket.socket, early: bytes) -> None:
        self._sock = sock
        self._closing = False  # our close frame is sent: nothing more may be
        self._frames = FrameReader()
        self._early = early  # bytes that came after the upgrade's answer, in the same read
        # One buffer for the socket's life: `recv(256 KiB)` would allocate (and glibc map and unmap) one per read.
        self._buffer = bytearray(READ_SIZE)
        self._view = memoryview(self._buffer)

    @classmethod
    def opened(cls, upgrade: Upgrade) -> EventSocket:
        """The socket of an upgrade that has finished (comfy/ws_upgrade.py)."""
        assert upgrade.sock is not None, "an open upgrade"
        return cls(upgrade.sock, upgrade.early)

    @classmethod
    def open(cls, url: str, timeout: float, first_message: object, tls: ssl.SSLContext | None = None) -> EventSocket:
        """Connect to ws:// or wss:// `url`, upgrade, send `first_message` as JSON, blocking at most `timeout`. Raises
        OSError (refused, timed out, TLS) or SocketClosed (the upgrade was refused). The worker opens its sockets on
        its opener thread instead (comfy/opener.py)."""
        return cls.opened(open_now(url, timeout, first_frame(json.dumps(first_message)), tls))

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
                self._send(OP_PONG, payload)
            elif opcode == OP_CLOSE:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                reason = payload[2:].decode("utf-8", "replace")
                with contextlib.suppress(SocketClosed):
                    self._send_close()
                raise SocketClosed(f"ComfyUI closed the WebSocket ({code}{f': {reason}' if reason else ''})")
            # A pong needs nothing: any frame shows the socket alive (the reader notes when it last read).
            if parsed is not None:
                events.append(parsed)
        return events

    def ping(self) -> None:
        self._send(OP_PING)

    def _send(self, opcode: int, payload: bytes = b"") -> None:
        if self._closing:
            raise SocketClosed("cannot write to the WebSocket: it is closing")
        try:
            self._sock.send(client_frame(opcode, payload))  # control frames of a few bytes: never more than the buffer
        except OSError as e:
            raise SocketClosed(f"cannot write to the WebSocket: {e}") from e

    def _send_close(self) -> None:
        self._send(OP_CLOSE, (1000).to_bytes(2, "big"))
        self._closing = True

    def close(self) -> None:
        with contextlib.suppress(SocketClosed):
            self._send_close()
        self._sock.close()
