"""ComfyUI WebSocket messages, parsed into small typed events.

Text frames are JSON `{"type", "data"}`; binary frames start with a 4-byte big-endian event type
(docs/comfyui.md, "Events" and "Binary frames"). Unknown types are returned as None and ignored by
the caller: custom nodes send messages of their own.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PREVIEW_IMAGE = 1
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4
IMAGE_FORMATS = {1: "jpeg", 2: "png"}


@dataclass(frozen=True)
class ComfyEvent:
    prompt_id: str | None


@dataclass(frozen=True)
class Status(ComfyEvent):
    queue_remaining: int | None
    sid: str | None = None


@dataclass(frozen=True)
class ExecutionStart(ComfyEvent):
    pass


@dataclass(frozen=True)
class ExecutionCached(ComfyEvent):
    nodes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Executing(ComfyEvent):
    node: str | None  # None: the prompt has ended (after its history entry is written)


@dataclass(frozen=True)
class Progress(ComfyEvent):
    node: str | None
    value: int
    max: int


@dataclass(frozen=True)
class Executed(ComfyEvent):
    node: str
    output: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecutionSuccess(ComfyEvent):
    pass


@dataclass(frozen=True)
class ExecutionError(ComfyEvent):
    node_id: str | None
    node_type: str | None
    exception_type: str
    exception_message: str
    traceback: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExecutionInterrupted(ComfyEvent):
    node_id: str | None
    node_type: str | None


@dataclass(frozen=True)
class Preview(ComfyEvent):
    node: str | None
    image_format: str
    image: bytes = field(repr=False)


def parse_text(text: str) -> ComfyEvent | None:
    try:
        message = json.loads(text)
    except ValueError:
        return None
    return parse_message(message)


def parse_message(message: object) -> ComfyEvent | None:
    """A text frame already decoded from JSON; None for unknown types and malformed messages."""
    if not isinstance(message, dict):
        return None
    kind, data = message.get("type"), message.get("data") or {}
    if not isinstance(data, dict):
        return None
    builder = _TEXT_BUILDERS.get(kind) if isinstance(kind, str) else None
    if builder is None:
        return None
    try:
        return builder(data)
    except (KeyError, TypeError, ValueError):
        return None


def _status(data: dict[str, Any]) -> Status:
    info = (data.get("status") or {}).get("exec_info") or {}
    return Status(None, info.get("queue_remaining"), data.get("sid"))


def execution_error(data: dict[str, Any]) -> ExecutionError:
    """From the data of an `execution_error` event, or of the same message in a history entry's status."""
    return ExecutionError(
        data.get("prompt_id"),
        data.get("node_id"),
        data.get("node_type"),
        str(data.get("exception_type", "")),
        str(data.get("exception_message", "")),
        tuple(data.get("traceback") or ()),
    )


def execution_interrupted(data: dict[str, Any]) -> ExecutionInterrupted:
    """From the data of an `execution_interrupted` event, or of the same message in a history entry's status."""
    return ExecutionInterrupted(data.get("prompt_id"), data.get("node_id"), data.get("node_type"))


def _named(build: Callable[[dict[str, Any]], ComfyEvent]) -> Callable[[dict[str, Any]], ComfyEvent]:
    """An event sent for one prompt must name it: one that does not is malformed (KeyError: ignored)."""

    def checked(data: dict[str, Any]) -> ComfyEvent:
        if "prompt_id" not in data:
            raise KeyError("prompt_id")
        return build(data)

    return checked


_TEXT_BUILDERS: dict[str, Callable[[dict[str, Any]], ComfyEvent]] = {
    "status": _status,
    "execution_start": lambda d: ExecutionStart(d["prompt_id"]),
    "execution_cached": lambda d: ExecutionCached(d["prompt_id"], tuple(d.get("nodes") or ())),
    "executing": lambda d: Executing(d["prompt_id"], d.get("node")),
    "progress": lambda d: Progress(d.get("prompt_id"), d.get("node"), int(d["value"]), int(d["max"])),
    "executed": lambda d: Executed(d["prompt_id"], d["node"], d.get("output") or {}),
    "execution_success": lambda d: ExecutionSuccess(d["prompt_id"]),
    "execution_error": _named(execution_error),
    "execution_interrupted": _named(execution_interrupted),
}


def parse_binary(frame: bytes) -> Preview | None:
    """Preview frames; type 1 names no prompt (the caller attributes it to the running one)."""
    if len(frame) < 8:
        return None
    (kind,) = struct.unpack_from(">I", frame, 0)
    if kind == PREVIEW_IMAGE:
        (fmt,) = struct.unpack_from(">I", frame, 4)
        return Preview(None, None, IMAGE_FORMATS.get(fmt, "unknown"), frame[8:])
    if kind == PREVIEW_IMAGE_WITH_METADATA:
        (length,) = struct.unpack_from(">I", frame, 4)
        try:
            meta = json.loads(frame[8 : 8 + length])
        except ValueError:
            return None
        image_type = str(meta.get("image_type", ""))
        image_format = "png" if "png" in image_type else "jpeg" if "jpeg" in image_type else image_type
        return Preview(meta.get("prompt_id"), meta.get("node_id"), image_format, frame[8 + length :])
    return None
