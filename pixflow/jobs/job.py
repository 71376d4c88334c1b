"""The Job: one generation request and what became of it. Its life fields change only through the shell of
jobs/life.py (scheduling/life_shell.py); `wait_reason` is placement's, `seq` the publisher's, `position` the store's."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixflow.comfy.capabilities import Requirements, requirements_of
from pixflow.jobs.dispatch import Phase
from pixflow.jobs.progress import JobProgress
from pixflow.vocabulary import STAGES, TERMINAL, JobState, now_ms
from pixflow.workflows import Workflow
from pixflow.workflows.params import GenerateParams


@dataclass(eq=False)  # identity equality and hash
class Job:
    job_id: str
    params: GenerateParams
    workflow: Workflow
    graph: dict[str, Any]
    prompt_id: str
    created_at: int = field(default_factory=now_ms)
    state: str = JobState.QUEUED.value  # the protocol state (vocabulary.JobState)
    seq: int = 0  # last event sequence number published for this job
    passes: int = 0  # times the job moved back to an earlier stage (multi-pass workflows)
    phase: Phase = Phase.WAITING  # where it is in dispatch (jobs/dispatch.py)
    backend: str | None = None  # set with the phase: the backend it was last sent to
    position: int = 0  # arrival order, from the job store
    attempts: int = 0  # POST /prompt attempts
    started_at: int | None = None  # ComfyUI's execution_start
    finished_at: int | None = None
    state_times: dict[str, int] = field(default_factory=dict)
    progress: dict[str, Any] | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    cancel_requested: bool = False  # what the client asked for; the phase decides what can still be done
    wait_reason: str | None = None  # why a queued job is not on a backend yet (no capable backend up, ...)
    tracking: JobProgress | None = field(default=None, repr=False)  # overall progress and ETA (live jobs)
    last_preview: dict[str, Any] | None = None  # the last preview published: seq, step, node, format
    last_preview_image: bytes | None = field(default=None, repr=False)  # its bytes, for fetch_preview (not stored)
    # Output node -> images, from `executed` events; None once events may have been missed (then: /history).
    node_outputs: dict[str, Any] | None = field(default_factory=dict)
    group_id: str | None = None  # the `compare` group it belongs to (pixflow/groups/)
    loads_model: bool = False  # this attempt made its backend load another checkpoint (its run teaches the switch)

    def __post_init__(self) -> None:
        self.state_times.setdefault(JobState.QUEUED.value, self.created_at)
        self.needs: Requirements = requirements_of(self.graph)  # node types and model files it needs

    @property
    def submitted(self) -> bool:
        """Handed to a backend at some point of this attempt: after a crash it is reconciled, not re-sent blindly."""
        return self.phase != Phase.WAITING and self.backend is not None

    @property
    def uploads(self) -> tuple[tuple[str, Path], ...]:
        """Its input images as (name in ComfyUI, the file pixflow keeps): uploaded before each send."""
        return tuple((image["comfy_name"], Path(image["file"])) for image in (self.params.images or {}).values())

    @property
    def job_state(self) -> JobState:
        return JobState(self.state)

    @property
    def finished(self) -> bool:
        return self.job_state in TERMINAL

    @property
    def stage(self) -> str | None:
        return self.state if self.job_state in STAGES else None

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def progress_view(self) -> dict[str, Any]:
        """overall, eta, stage_progress and step_rate, as events and snapshots carry them."""
        if self.job_state == JobState.DONE:
            return {"overall": 1.0, "eta": 0.0, "stage_progress": None, "step_rate": None}
        if self.tracking is None or self.finished or self.job_state == JobState.QUEUED:
            # Not running (docs/protocol.md): an ETA while queued would leave out the wait, which nobody knows.
            return {"overall": None, "eta": None, "stage_progress": None, "step_rate": None}
        return self.tracking.view()

    def snapshot(self) -> dict[str, Any]:
        """The job as clients see it (the `job` reply and list entries)."""
        return {
            "job_id": self.job_id,
            "owner": self.params.owner,  # the key that submitted it; nil without CURVE
            "group_id": self.group_id,
            "state": self.state,
            "stage": self.stage,
            "passes": self.passes,
            "progress": self.progress,
            "outputs": self.outputs,
            "error": self.error,
            "params": self.params.to_wire(),
            "workflow": self.workflow.name,
            "priority": self.params.priority,
            "backend": self.backend,
            "attempts": self.attempts,
            "prompt_id": self.prompt_id,
            "seq": self.seq,
            "cancel_requested": self.cancel_requested,
            "wait_reason": self.wait_reason if self.phase == Phase.WAITING and not self.finished else None,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "state_times": dict(self.state_times),
            "last_preview": self.last_preview,
            **self.progress_view(),
        }
