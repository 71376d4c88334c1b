"""What ComfyUI's events mean for a job: stage moves, progress, previews, the end of a prompt."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from pixflow.comfy import events as ce
from pixflow.comfy.nodes import stage_for
from pixflow.errors import FailureCode
from pixflow.jobs.job import Job
from pixflow.jobs.machine import JobMachine, Trigger
from pixflow.vocabulary import TOPIC_PREVIEW, TOPIC_PROGRESS, now_ms

log = logging.getLogger(__name__)


class PromptListener(Protocol):
    """Told what the tracker cannot decide alone: both need the job's dispatch phase (jobs/dispatch.py)."""

    def on_success(self, job: Job) -> None: ...

    def on_prompt_end(self, job: Job) -> None: ...


class JobPublisher(Protocol):
    def job_event(self, prefix: str, job: Job, fields: dict[str, Any]) -> None: ...


class JobTracker:
    """Applies one backend event to the job it belongs to. Pure bookkeeping: no I/O but publishing."""

    def __init__(self, machine: JobMachine, publisher: JobPublisher, listener: PromptListener) -> None:
        self._machine = machine
        self._publisher = publisher
        self._listener = listener

    def apply(self, job: Job, event: ce.ComfyEvent) -> None:
        if job.finished:
            log.debug("job %s already %s; ignoring %s", job.job_id, job.state, type(event).__name__)
            return
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(self, job, event)

    def _start(self, job: Job, event: ce.ExecutionStart) -> None:
        job.started_at = now_ms()

    def _executing(self, job: Job, event: ce.Executing) -> None:
        if event.node is None:
            self._listener.on_prompt_end(job)
            return
        class_type = job.workflow.class_type(event.node)
        stage = stage_for(class_type, job.workflow.stages) if class_type else None
        if stage is not None:
            self._machine.enter_stage(job, stage)

    def _progress(self, job: Job, event: ce.Progress) -> None:
        job.progress = {"node": event.node, "value": event.value, "max": event.max}
        if job.tracking is not None:
            job.tracking.on_step(event.node, event.value, event.max)
        self._publisher.job_event(TOPIC_PROGRESS, job, {"stage": job.stage, **job.progress, **job.progress_view()})

    def _executed(self, job: Job, event: ce.Executed) -> None:
        if event.output.get("images") and job.node_outputs is not None:
            job.node_outputs[event.node] = event.output

    def _success(self, job: Job, event: ce.ExecutionSuccess) -> None:
        self._listener.on_success(job)

    def _error(self, job: Job, event: ce.ExecutionError) -> None:
        job.error = {
            "code": FailureCode.EXECUTION_ERROR.value,
            "message": f"{event.node_type or 'a node'} (node {event.node_id}) raised "
            f"{event.exception_type}: {event.exception_message.strip()}",
            "node_id": event.node_id,
            "node_type": event.node_type,
            "exception_type": event.exception_type,
            "exception_message": event.exception_message,
            "traceback": list(event.traceback),
        }
        self._machine.fire(job, Trigger.FAIL)

    def _interrupted(self, job: Job, event: ce.ExecutionInterrupted) -> None:
        if job.cancel_requested:
            self._machine.fire(job, Trigger.CANCEL)
            return
        job.error = {
            "code": FailureCode.INTERRUPTED.value,
            "message": f"ComfyUI interrupted the prompt at node {event.node_id} ({event.node_type}), "
            "not at pixflow's request",
            "node_id": event.node_id,
            "node_type": event.node_type,
        }
        self._machine.fire(job, Trigger.FAIL)

    def _preview(self, job: Job, event: ce.Preview) -> None:
        if not job.params.previews:
            return
        fields: dict[str, Any] = {
            "node": event.node or (job.progress or {}).get("node"),
            "step": _preview_step(job.progress, event),
            "format": event.image_format,
            "image": event.image,
        }
        self._publisher.job_event(TOPIC_PREVIEW, job, fields)
        job.last_preview_image = event.image  # kept for fetch_preview; only the newest, never stored
        job.last_preview = {
            "seq": job.seq,
            "step": fields["step"],
            "node": fields["node"],
            "format": event.image_format,
        }

    _handlers: dict[type, Callable[..., None]] = {
        ce.ExecutionStart: _start,
        ce.Executing: _executing,
        ce.Progress: _progress,
        ce.Executed: _executed,
        ce.ExecutionSuccess: _success,
        ce.ExecutionError: _error,
        ce.ExecutionInterrupted: _interrupted,
        ce.Preview: _preview,
    }


def _preview_step(progress: dict[str, Any] | None, event: ce.Preview) -> int | None:
    """The sampler step a preview shows. ComfyUI 0.3.75 sends a plain preview (type 1) just after its step's
    `progress`, but a preview with metadata (type 4, the one naming its prompt) just before it."""
    if progress is None or (event.node is not None and progress.get("node") != event.node):
        return 1 if event.prompt_id is not None else None  # the first step of a sampler that has not reported
    value, maximum = int(progress["value"]), int(progress["max"])
    if event.prompt_id is None:
        return value
    return min(value + 1, maximum)
