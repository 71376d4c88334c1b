"""Binary preview frames as each client gets them, and the order they come in (docs/comfyui.md, "Binary frames").

A recording holds the previews as the recording client got them: type 1 (no metadata) or type 4 (JSON
metadata naming the prompt). A replay client may have asked for the other kind, so frames are re-encoded
and re-ordered for it here. Pure functions: no sockets, no event loop.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from pixflow.comfy.events import IMAGE_FORMATS, PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA
from pixflow.replay.recordings import Frame

_FORMAT_CODES = {name: code for code, name in IMAGE_FORMATS.items()}


def preview_for(frame: bytes, wants_metadata: bool, prompt_id: str, node: str | None) -> bytes:
    """The preview `frame` as ComfyUI would send it to a client: type 4 if it opted in, type 1 otherwise.

    Type 4 metadata names the replayed prompt; a type 1 frame turned into type 4 gets the metadata ComfyUI
    would have written for the node running at the time.
    """
    (kind,) = struct.unpack_from(">I", frame, 0)
    meta: dict[str, Any]
    if kind == PREVIEW_IMAGE_WITH_METADATA:
        (length,) = struct.unpack_from(">I", frame, 4)
        meta = json.loads(frame[8 : 8 + length])
        image = frame[8 + length :]
        if not wants_metadata:
            fmt = _FORMAT_CODES["png"] if "png" in str(meta.get("image_type")) else _FORMAT_CODES["jpeg"]
            return struct.pack(">II", PREVIEW_IMAGE, fmt) + image
        meta = {**meta, "prompt_id": prompt_id}
    elif kind == PREVIEW_IMAGE:
        (fmt,) = struct.unpack_from(">I", frame, 4)
        image = frame[8:]
        if not wants_metadata:
            return frame
        meta = {
            "node_id": node,
            "prompt_id": prompt_id,
            "display_node_id": node,
            "parent_node_id": None,
            "real_node_id": node,
            "image_type": "image/png" if fmt == _FORMAT_CODES["png"] else "image/jpeg",
        }
    else:
        return frame
    encoded = json.dumps(meta).encode()
    return struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(encoded)) + encoded + image


def _preview_kind(frame: Frame) -> int | None:
    if frame.binary is None or len(frame.binary) < 4:
        return None
    kind: int = struct.unpack_from(">I", frame.binary, 0)[0]
    return kind


def _is_progress(frame: Frame) -> bool:
    return frame.text is not None and frame.text.startswith('{"type": "progress",')


def in_client_order(frames: tuple[Frame, ...], wants_metadata: bool) -> list[Frame]:
    """ComfyUI 0.3.75 sends a preview with metadata (type 4) just before its step's `progress`, and a plain one
    (type 1) just after it. A recording made with one kind is reordered for a client of the other kind; frames
    on either side of a recorded interrupt stay where they are."""
    ordered = list(frames)
    for i in range(1, len(ordered)):
        kind = _preview_kind(ordered[i])
        if wants_metadata and kind == PREVIEW_IMAGE and _is_progress(ordered[i - 1]) and not ordered[i].after_interrupt:
            ordered[i - 1], ordered[i] = ordered[i], ordered[i - 1]
    for i in range(len(ordered) - 2, -1, -1):
        kind = _preview_kind(ordered[i])
        movable = not (ordered[i].after_interrupt or ordered[i + 1].after_interrupt)
        if not wants_metadata and kind == PREVIEW_IMAGE_WITH_METADATA and _is_progress(ordered[i + 1]) and movable:
            ordered[i], ordered[i + 1] = ordered[i + 1], ordered[i]
    return ordered


def preview_image(frame: bytes) -> tuple[str, int] | None:
    """(the image's format, "jpeg" or "png", and where its bytes start) of a preview frame; None for other frames."""
    if len(frame) < 8:
        return None
    kind, word = struct.unpack_from(">II", frame, 0)
    if kind == PREVIEW_IMAGE:
        return ("png" if word == _FORMAT_CODES["png"] else "jpeg"), 8
    if kind == PREVIEW_IMAGE_WITH_METADATA and len(frame) >= 8 + word:
        meta = json.loads(frame[8 : 8 + word])
        return ("png" if "png" in str(meta.get("image_type")) else "jpeg"), 8 + word
    return None


def with_image(frame: bytes, image: bytes) -> bytes:
    """The preview `frame` with its image replaced, its header (type, format or metadata) kept."""
    found = preview_image(frame)
    return frame if found is None else frame[: found[1]] + image
