"""What the loop asks of a backend, and how what runs off the loop is carried out against ComfyUI.

Commands are frozen dataclasses. A backend's control lane (comfy/control_lane.py) takes them in order: it sends a
`Submit` itself, on the loop; every other command runs on the worker's shared control pool (comfy/threads.py),
through `run`, with the backend's control client, and its result is posted back to the loop. A `FetchOutputs`
is downloaded on the loop (comfy/loop_fetch.py) and its files written by a file writer (`write`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, assert_never

from pixflow.comfy.capabilities import Capabilities
from pixflow.comfy.client import ComfyClient, PromptRejected
from pixflow.comfy.messages import (
    BackendInfo,
    CancelChecked,
    HealthMessage,
    JobResult,
    OutputsFailed,
    OutputsSaved,
    PromptFinished,
    PromptUnknown,
    PromptWaiting,
    ReconcileFailed,
    SubmitRejected,
    Submitted,
    Withdrawn,
)
from pixflow.comfy.outputs import PostProcess, write_outputs
from pixflow.errors import BackendError, SpriteError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submit:
    job_id: str
    prompt_id: str
    graph: dict[str, Any] = field(repr=False)
    client_id: str
    # Input images, (name in ComfyUI, file pixflow keeps): uploaded just before the POST, on every send.
    images: tuple[tuple[str, Path], ...] = ()


@dataclass(frozen=True)
class Cancel:
    """Remove the prompt if it waits, interrupt it (by its id) if it runs; then say where it is."""

    job_id: str
    prompt_id: str


@dataclass(frozen=True)
class Withdraw:
    """Take a prompt that has not started out of ComfyUI's queue, to run it elsewhere; never interrupts."""

    job_id: str
    prompt_id: str


@dataclass(frozen=True)
class Discard:
    """A copy of a prompt that moved to another backend: delete or interrupt it (by its id), report nothing."""

    prompt_id: str


@dataclass(frozen=True)
class RefreshInfo:
    pass


@dataclass(frozen=True)
class Reconcile:
    job_id: str
    prompt_id: str


@dataclass(frozen=True)
class InterruptAll:
    pass


@dataclass(frozen=True)
class FetchOutputs:
    job_id: str
    prompt_id: str
    job_dir: Path
    sidecar: dict[str, Any] = field(repr=False)
    # Output node -> its `executed` output, when the job's events were followed live: saves a GET /history.
    node_outputs: dict[str, Any] | None = field(default=None, repr=False)
    post: PostProcess | None = field(default=None, repr=False)  # the workflow's sprite steps, bound to the job


@dataclass(frozen=True)
class WriteOutputs:
    """Images the loop downloaded (comfy/loop_fetch.py), to write with their sidecar: a slow disk never stalls the
    loop (creating a file took 0.3 to 0.8 ms of kernel time on the project's machine, far more on a network share)."""

    job_id: str
    job_dir: Path
    sidecar: dict[str, Any] = field(repr=False)
    images: list[dict[str, Any]] = field(repr=False)
    datas: list[bytes] = field(repr=False)
    post: PostProcess | None = field(default=None, repr=False)


PoolCommand = Cancel | Withdraw | Discard | RefreshInfo | Reconcile | InterruptAll  # run on the control pool
Command = Submit | PoolCommand  # what a control lane takes, in order


def run(backend: str, command: PoolCommand, client: ComfyClient) -> JobResult | HealthMessage | None:
    """On a control pool thread; object_info's parsing (megabytes on a ComfyUI with many nodes) stays off the loop."""
    match command:
        case Cancel():
            return _cancel(backend, command, client)
        case Withdraw():
            return _withdraw(backend, command, client)
        case Discard():
            try:
                client.delete_from_queue([command.prompt_id])
                client.interrupt(command.prompt_id)
            except BackendError as e:
                log.warning("backend %s: could not discard prompt %s: %s", backend, command.prompt_id, e)
            return None
        case RefreshInfo():
            try:
                object_info = client.object_info()
                stats = client.system_stats()
            except BackendError as e:
                log.warning("backend %s: cannot read what it offers (/object_info): %s", backend, e)
                return BackendInfo(backend, None)
            version = (stats.get("system") or {}).get("comfyui_version")
            return BackendInfo(backend, Capabilities.from_object_info(object_info, version))
        case Reconcile():
            return _reconcile(command, client)
        case InterruptAll():
            try:
                client.interrupt(None)
            except BackendError as e:
                log.warning("backend %s: interrupt failed: %s", backend, e)
            return None
        case _:
            assert_never(command)


def write(command: WriteOutputs) -> JobResult:
    """On a file writer: the images the loop downloaded (and the sprites their steps make), then their sidecar."""
    try:
        outputs = write_outputs(
            command.images, command.datas, command.job_dir, command.job_id, command.sidecar, command.post
        )
    except SpriteError as e:  # the generation is kept (<job>_<i>_raw.<ext>); the step says why it gave no sprite
        return OutputsFailed(command.job_id, f"sprite steps: {e.code}: {e.message}")
    except (OSError, ValueError) as e:  # ValueError: a file name ComfyUI gave that no file may have (a NUL byte)
        return OutputsFailed(command.job_id, str(e))
    return OutputsSaved(command.job_id, outputs)


def missing_image(job_id: str, error: OSError) -> JobResult:
    """pixflow's own copy of an input image is gone: sending again will not help."""
    return SubmitRejected(job_id, PromptRejected({"type": "input_image_missing", "message": str(error)}))


def submit_result(job_id: str, result: dict[str, Any] | PromptRejected) -> JobResult:
    """What ComfyUI's answer to POST /prompt means for the job."""
    if isinstance(result, PromptRejected):
        return SubmitRejected(job_id, result)
    return Submitted(job_id, result.get("number"))


def _reconcile(command: Reconcile, client: ComfyClient) -> JobResult:
    """Where is this prompt? History first: a finished prompt leaves the queue after its entry is written."""
    try:
        entry = client.history(command.prompt_id)
        if entry:
            return PromptFinished(command.job_id, entry)
        snapshot = client.queue()
        entry = client.history(command.prompt_id)  # it may have finished between the two reads
    except BackendError as e:
        return ReconcileFailed(command.job_id, str(e))
    if entry:
        return PromptFinished(command.job_id, entry)
    if _in_queue(snapshot.get("queue_running"), command.prompt_id):
        return PromptWaiting(command.job_id, running=True)
    if _in_queue(snapshot.get("queue_pending"), command.prompt_id):
        return PromptWaiting(command.job_id, running=False)
    return PromptUnknown(command.job_id)


def _cancel(backend: str, command: Cancel, client: ComfyClient) -> CancelChecked:
    try:
        client.delete_from_queue([command.prompt_id])
        client.interrupt(command.prompt_id)
        snapshot = client.queue()
    except BackendError as e:
        log.warning("backend %s: cancel of %s: %s", backend, command.job_id, e)
        return CancelChecked(command.job_id, True)
    return CancelChecked(command.job_id, _queued_or_running(snapshot, command.prompt_id))


def _withdraw(backend: str, command: Withdraw, client: ComfyClient) -> Withdrawn:
    """Removed only when ComfyUI's queue no longer holds it and it left no history (it never started)."""
    try:
        client.delete_from_queue([command.prompt_id])
        snapshot = client.queue()
        entry = client.history(command.prompt_id)
    except BackendError as e:
        log.warning("backend %s: withdrawing %s: %s", backend, command.job_id, e)
        return Withdrawn(command.job_id, False)
    return Withdrawn(command.job_id, not _queued_or_running(snapshot, command.prompt_id) and not entry)


def _queued_or_running(snapshot: dict[str, Any], prompt_id: str) -> bool:
    return _in_queue(snapshot.get("queue_running"), prompt_id) or _in_queue(snapshot.get("queue_pending"), prompt_id)


def _in_queue(items: list[Any] | None, prompt_id: str) -> bool:
    return any(isinstance(item, list) and len(item) > 1 and item[1] == prompt_id for item in items or [])
