"""What a job says about what ComfyUI did: its `error` for a node that raised or an interrupt it did not ask for,
and the sampler step a preview shows. Pure: the shell of jobs/life.py writes them into the job."""

from __future__ import annotations

from typing import Any

from pixflow.comfy.events import ExecutionError, ExecutionInterrupted, Preview
from pixflow.errors import FailureCode


def execution_error(event: ExecutionError) -> dict[str, Any]:
    """A job's `error` for a node that raised (live, or read from /history)."""
    return {
        "code": FailureCode.EXECUTION_ERROR.value,
        "message": f"{event.node_type or 'a node'} (node {event.node_id}) raised "
        f"{event.exception_type}: {event.exception_message.strip()}",
        "node_id": event.node_id,
        "node_type": event.node_type,
        "exception_type": event.exception_type,
        "exception_message": event.exception_message,
        "traceback": list(event.traceback),
    }


def interruption(event: ExecutionInterrupted) -> dict[str, Any]:
    """A job's `error` for an interrupt pixflow did not ask for."""
    return {
        "code": FailureCode.INTERRUPTED.value,
        "message": f"ComfyUI interrupted the prompt at node {event.node_id} ({event.node_type}), "
        "not at pixflow's request",
        "node_id": event.node_id,
        "node_type": event.node_type,
    }


def preview_step(progress: dict[str, Any] | None, event: Preview) -> int | None:
    """The sampler step a preview shows. ComfyUI 0.3.75 sends a plain preview (type 1) just after its step's
    `progress`, but a preview with metadata (type 4, the one naming its prompt) just before it."""
    if progress is None or (event.node is not None and progress.get("node") != event.node):
        return 1 if event.prompt_id is not None else None  # the first step of a sampler that has not reported
    value, maximum = int(progress["value"]), int(progress["max"])
    if event.prompt_id is None:
        return value
    return min(value + 1, maximum)
