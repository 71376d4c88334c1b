"""Reading the outcome of a finished prompt from its ComfyUI history entry (for reconciliation)."""

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
            return Outcome(
                False,
                error=ce.ExecutionError(
                    data.get("prompt_id"),
                    data.get("node_id"),
                    data.get("node_type"),
                    str(data.get("exception_type", "")),
                    str(data.get("exception_message", "")),
                    tuple(data.get("traceback") or ()),
                ),
            )
        if kind == "execution_interrupted":
            return Outcome(
                False,
                interrupted=ce.ExecutionInterrupted(data.get("prompt_id"), data.get("node_id"), data.get("node_type")),
            )
    return Outcome(False)
