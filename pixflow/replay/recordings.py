"""Recorded ComfyUI runs (fixtures/*/NAME.jsonl), loaded for replay.

Format (one JSON object per line, `{"t", "kind", "data"}`): see fixtures/comfyui-0.3.75/README.md.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixflow.resources import demo_recordings

# The recordings of ComfyUI 0.3.75 the project was given: the replay server's and the demo's default set,
# shipped inside the package (pixflow/resources.py).
DEFAULT_FIXTURES = demo_recordings()


@dataclass(frozen=True)
class Frame:
    delay: float  # seconds after the previous frame (or after the POST, for the first one)
    text: str | None = None  # a JSON text frame, exactly as recorded
    binary: bytes | None = field(default=None, repr=False)
    # The recorded client sent POST /interrupt just before this frame: replay holds here until
    # its own client interrupts, so the rest of the recording is the interrupted tail.
    after_interrupt: bool = False


@dataclass(frozen=True)
class Recording:
    name: str
    prompt_id: str | None  # the id ComfyUI knew the recorded prompt by, replaced on replay
    client_id: str | None
    status: int  # POST /prompt's HTTP status
    reply: dict[str, Any]
    frames: tuple[Frame, ...]
    history: dict[str, Any] | None
    graph: dict[str, Any] = field(default_factory=dict)


def _is_session_frame(message: dict[str, Any]) -> bool:
    """Frames that belong to the connection, not to the prompt: the greeting and the feature flags."""
    if message.get("type") == "feature_flags":
        return True
    return message.get("type") == "status" and "sid" in (message.get("data") or {})


def load_recording(path: Path) -> Recording:
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    post = next((e for e in entries if e["kind"] == "http_post_prompt"), None)
    if post is None:
        raise ValueError(f"{path}: no http_post_prompt entry")
    request, reply = post["data"]["request"], post["data"]["body"]
    prompt_id = reply.get("prompt_id") or request.get("prompt_id")
    frames: list[Frame] = []
    last_t = post["t"]
    history = None
    interrupt_seen = False
    for entry in entries:
        kind, data = entry["kind"], entry["data"]
        delay = max(0.0, entry["t"] - last_t)
        if kind == "ws_json":
            if _is_session_frame(data):
                continue
            frames.append(Frame(delay, text=json.dumps(data), after_interrupt=interrupt_seen))
        elif kind == "ws_binary":
            frames.append(Frame(delay, binary=base64.b64decode(data["b64"]), after_interrupt=interrupt_seen))
        elif kind == "http_post_interrupt":
            interrupt_seen = True
            continue
        elif kind == "http_get_history":
            history = (data.get("body") or {}).get(data.get("prompt_id"))
            continue
        else:
            continue
        interrupt_seen = False
        last_t = max(last_t, entry["t"])
    return Recording(
        name=path.stem,
        prompt_id=prompt_id,
        client_id=request.get("client_id"),
        status=post["data"]["status"],
        reply=reply,
        frames=tuple(frames),
        history=history,
        graph=request.get("prompt") or {},
    )


def load_recordings(directory: Path) -> dict[str, Recording]:
    return {path.stem: load_recording(path) for path in sorted(directory.glob("*.jsonl"))}
