"""The worker's WebSocket codec (RFC 6455): the upgrade's request and its answer checked, pixflow's few frames
written (masked, as a client's must be), and a server's frames decoded as the bytes come: the hot path of every event.

A server's frames are unmasked and ComfyUI agrees no extension, so a frame is a two-byte header, a length and a
payload. wsproto's generator-based reader cost 0.1 ms a frame on a worker woken from idle (its code is cold then),
most of the latency from a ComfyUI frame to a subscriber; this costs a few microseconds. wsproto is now only the
tests' reference (tests/test_ws_frames.py checks this codec against it, both ways).
"""

from __future__ import annotations

import base64
import hashlib
import os

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
MAX_MESSAGE = 64 * 1024 * 1024  # a preview is a few KiB; no ComfyUI message comes near this


ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 1.3


class ProtocolError(Exception):
    """The server broke the framing rules: the connection cannot be trusted any further."""


class UpgradeRefused(Exception):
    """The server answered the upgrade with something else than a valid 101."""


def upgrade_request(host: str, target: str, key: str, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """The HTTP/1.1 upgrade request (RFC 6455 4.1); `key` as `new_key` makes it."""
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def check_upgrade_answer(head: bytes, key: str) -> None:
    """The answer's status line and headers, up to (without) its blank line: UpgradeRefused unless it is a 101 that
    upgrades to a WebSocket and proves it read `key`; the message names the status."""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise UpgradeRefused(f"with no HTTP status line ({status_line[:60]!r})")
    if parts[1] != "101":
        raise UpgradeRefused(parts[1])
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    expected = base64.b64encode(hashlib.sha1(key.encode() + ACCEPT_GUID).digest()).decode()
    if headers.get("upgrade", "").lower() != "websocket" or "upgrade" not in headers.get("connection", "").lower():
        raise UpgradeRefused("101 without Upgrade: websocket")
    if headers.get("sec-websocket-accept") != expected:
        raise UpgradeRefused("101 with a wrong Sec-WebSocket-Accept")
    if headers.get("sec-websocket-extensions"):
        raise UpgradeRefused(f"101 with an extension pixflow did not ask for ({headers['sec-websocket-extensions']})")


def client_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One whole frame from a client: final, masked with a fresh key (RFC 6455 5.3)."""
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    mask = os.urandom(4)
    repeated = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(length, "big")
    return header + mask + masked


class FrameReader:
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._opcode: int | None = None  # of the message whose fragments are being gathered
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Every complete message and control frame in what has come so far, as (opcode, payload)."""
        buffer = self._buffer
        buffer += data
        found: list[tuple[int, bytes]] = []
        position, end = 0, len(buffer)
        while end - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            if second & 0x80:
                raise ProtocolError("the server masked a frame (RFC 6455 5.1: it must not)")
            if first & 0x70:
                raise ProtocolError("a frame has reserved bits set, and no extension was agreed")
            length, header = second & 0x7F, 2
            if length == 126:
                header = 4
            elif length == 127:
                header = 10
            if end - position < header:
                break
            if header > 2:
                length = int.from_bytes(buffer[position + 2 : position + header], "big")
            if length > MAX_MESSAGE:
                raise ProtocolError(f"a frame of {length} bytes (more than {MAX_MESSAGE})")
            if end - position < header + length:
                break
            payload = bytes(buffer[position + header : position + header + length])
            position += header + length
            message = self._frame(bool(first & 0x80), first & 0x0F, payload)
            if message is not None:
                found.append(message)
        del buffer[:position]
        return found

    def _frame(self, final: bool, opcode: int, payload: bytes) -> tuple[int, bytes] | None:
        if opcode in (OP_CLOSE, OP_PING, OP_PONG):
            if not final or len(payload) > 125:
                raise ProtocolError("a control frame was fragmented or longer than 125 bytes")
            return opcode, payload
        if opcode == OP_CONTINUATION:
            if self._opcode is None:
                raise ProtocolError("a continuation frame with no message to continue")
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._opcode is not None:
                raise ProtocolError("a new message began before the last one ended")
            if final:
                return opcode, payload  # the usual case: a message in one frame
            self._opcode = opcode
        else:
            raise ProtocolError(f"unknown opcode {opcode:#x}")
        self._parts.append(payload)
        self._size += len(payload)
        if self._size > MAX_MESSAGE:
            raise ProtocolError(f"a message of more than {MAX_MESSAGE} bytes")
        if not final:
            return None
        message = (self._opcode, b"".join(self._parts))
        self._opcode, self._parts, self._size = None, [], 0
        return message
