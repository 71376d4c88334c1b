"""What the monitor shows of one job, a preview and a log line: plain values, built by the model (model.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pixflow.vocabulary import TERMINAL_STATES, JobState


@dataclass
class Preview:
    image: bytes
    format: str
    step: int | None
    node: str | None
    seq: int = 0


@dataclass
class JobView:
    job_id: str
    state: str = JobState.QUEUED.value
    stage: str | None = None
    passes: int = 0
    progress: dict[str, Any] | None = None
    eta: Any = None  # optional fields a later worker may send (docs/monitor.md)
    overall: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    workflow: str | None = None
    priority: int | None = None
    backend: str | None = None
    created_at: int | None = None
    started_at: int | None = None
    finished_at: int | None = None
    state_times: dict[str, int] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    seq: int = 0
    cancel_requested: bool = False
    wait_reason: str | None = None  # why a queued job is on no backend yet (snapshots only; newer workers)
    group_id: str | None = None  # the `compare` group it belongs to
    preview: Preview | None = None
    has_snapshot: bool = False
    version: int = 0  # bumped on every change, for render caches

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def prompt(self) -> str:
        return str(self.params.get("prompt") or "")


@dataclass
class LogEntry:
    ts: int
    text: str
    level: str = "info"  # info, warning, error


def error_summary(error: dict[str, Any] | None) -> str:
    """One line about a job's error: its code and the first line of its message."""
    if not error:
        return "no error details"
    message = str(error.get("message") or "").strip().splitlines()
    return f"{error.get('code', '?')}: {message[0] if message else ''}".rstrip(": ")
