"""WebSocket frames from a server, decoded as the bytes come (RFC 6455, section 5): the hot path of every event.

wsproto opens the connection and writes pixflow's few frames (comfy/event_socket.py). Reading is done here: a
server's frames are unmasked and ComfyUI agrees no extension, so a frame is a two-byte header, a length and a
payload. wsproto's generator-based reader cost 0.1 ms a frame on a worker woken from idle (its code is cold then),
most of the latency from a ComfyUI frame to a subscriber; this costs a few microseconds.
"""

from __future__ import annotations

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
MAX_MESSAGE = 64 * 1024 * 1024  # a preview is a few KiB; no ComfyUI message comes near this


class ProtocolError(Exception):
    """The server broke the framing rules: the connection cannot be trusted any further."""


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
