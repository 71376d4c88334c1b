"""Reading a finished prompt's ComfyUI history entry: its outcome and its images (docs/comfyui.md, "History").

An entry is `{"prompt", "outputs": {node_id: {"images": [{"filename", "subfolder", "type"}]}},
"status": {"status_str", "completed", "messages"}, "meta"}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pixflow.comfy import events as ce


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    error: ce.ExecutionError | None = None
    interrupted: ce.ExecutionInterrupted | None = None


def outcome_of(entry: dict[str, Any]) -> Outcome:
    """success, execution_error or execution_interrupted, from `status.messages` as ComfyUI writes them."""
    status = entry.get("status") or {}
    if status.get("status_str") == "success" or status.get("completed") is True:
        return Outcome(True)
    for kind, data in status.get("messages") or []:
        if kind == "execution_error":
            return Outcome(False, error=ce.execution_error(data))
        if kind == "execution_interrupted":
            return Outcome(False, interrupted=ce.execution_interrupted(data))
    return Outcome(False)


def images_of(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Every image the entry lists, output nodes in graph order, each with its node id added as "node"."""
    images = []
    for node_id, node_output in (entry.get("outputs") or {}).items():
        for image in node_output.get("images") or []:
            if isinstance(image, dict) and image.get("filename"):
                images.append({**image, "node": node_id})
    return images
