"""What the backend threads post to the worker loop: small frozen dataclasses under one union type.

The loop matches on `LoopMessage` exhaustively (see scheduling/scheduler.py): a new message type that
the loop does not handle is a type error, not a silent `case _`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pixflow.comfy.capabilities import Capabilities
from pixflow.comfy.client import PromptRejected
from pixflow.comfy.event_socket import EventSocket
from pixflow.comfy.events import ComfyEvent


# A backend's health and what it offers.
@dataclass(frozen=True)
class BackendUp:
    backend: str
    client_id: str
    # The WebSocket just opened, for the loop to read from now on (Backend.attach); None in tests of the loop alone.
    events: EventSocket | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class BackendDown:
    backend: str
    reason: str


@dataclass(frozen=True)
class BackendInfo:
    """What the backend can run, from its /object_info; None when it could not be read (keep what was known)."""

    backend: str
    capabilities: Capabilities | None


# One WebSocket event, as parsed; the loop finds the job it belongs to.
@dataclass(frozen=True)
class BackendEvent:
    backend: str
    event: ComfyEvent


# Results of commands about one job.
@dataclass(frozen=True)
class Submitted:
    job_id: str
    number: float | None


@dataclass(frozen=True)
class SubmitRejected:
    job_id: str
    rejection: PromptRejected


@dataclass(frozen=True)
class SubmitFailed:
    job_id: str
    reason: str


@dataclass(frozen=True)
class CancelChecked:
    job_id: str
    in_comfy_queue: bool  # still pending or running in ComfyUI after delete + interrupt


@dataclass(frozen=True)
class Withdrawn:
    """A prompt asked out of a backend's queue (to run elsewhere): `removed` only if it never started there."""

    job_id: str
    removed: bool


@dataclass(frozen=True)
class PromptFinished:
    """Reconcile: ComfyUI has a history entry for the prompt."""

    job_id: str
    entry: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class PromptWaiting:
    """Reconcile: the prompt is still in ComfyUI's queue (running or pending)."""

    job_id: str
    running: bool


@dataclass(frozen=True)
class PromptUnknown:
    """Reconcile: ComfyUI has never heard of the prompt, or lost it in a restart."""

    job_id: str


@dataclass(frozen=True)
class ReconcileFailed:
    job_id: str
    reason: str


@dataclass(frozen=True)
class OutputsSaved:
    job_id: str
    outputs: list[dict[str, Any]]


@dataclass(frozen=True)
class OutputsFailed:
    job_id: str
    reason: str


@dataclass(frozen=True)
class CommandFailed:
    """A command about a job raised where it should not have: a bug, reported against that job."""

    job_id: str
    reason: str


HealthMessage = BackendUp | BackendDown | BackendInfo
JobResult = (
    Submitted
    | SubmitRejected
    | SubmitFailed
    | CancelChecked
    | Withdrawn
    | PromptFinished
    | PromptWaiting
    | PromptUnknown
    | ReconcileFailed
    | OutputsSaved
    | OutputsFailed
    | CommandFailed
)


@dataclass(frozen=True)
class ControlDone:
    """The control pool has carried out a backend's command (comfy/control_lane.py): its result; the next may start."""

    backend: str
    result: JobResult | HealthMessage | None
    origin: object = field(default=None, compare=False, repr=False)  # the Backend whose thread it was


LoopMessage = HealthMessage | BackendEvent | JobResult | ControlDone
