"""Turning job data into short text: ages, durations, progress bars, the table's cells, state colours."""

from __future__ import annotations

from typing import Any, NamedTuple, TypeGuard

from pixflow.vocabulary import STAGE_NAMES, TERMINAL_STATES, JobState
from pixflow_monitor.job_view import JobView

STATE_STYLES: dict[str, str] = {
    JobState.QUEUED: "dim",
    JobState.LOADING: "cyan",
    JobState.ENCODING: "cyan",
    JobState.SAMPLING: "bold yellow",
    JobState.DECODING: "cyan",
    JobState.SAVING: "cyan",
    JobState.DONE: "green",
    JobState.FAILED: "bold red",
    JobState.CANCELLED: "magenta",
}
BAR_WIDTH = 8


def duration(ms: float | None) -> str:
    """A duration for people: 850ms, 4.2s, 3m07s, 2h05m."""
    if ms is None:
        return "—"
    ms = max(0, ms)
    if ms < 1000:
        return f"{int(ms)}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def number(value: Any) -> str:
    """A limit or a default for people: whole numbers in full (a seed's 18446744073709551615, not 1.84467e+19)."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    return str(value)


def age(ms: float | None) -> str:
    """A coarse age (whole seconds), so the table changes at most once a second."""
    if ms is None:
        return "—"
    seconds = max(0, int(ms // 1000))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def fraction_of(value: Any) -> float | None:
    """An `overall` field as a fraction: a number in 0-1, a percentage in 0-100, or a map with value and max."""
    if isinstance(value, dict):
        done, total = value.get("value"), value.get("max")
        if _number(done) and _number(total) and total > 0:
            return min(1.0, max(0.0, done / total))
        return None
    if not _number(value) or value < 0:
        return None
    return value if value <= 1 else value / 100 if value <= 100 else None


def eta_seconds(value: Any, now_ms: int) -> float | None:
    """An `eta` field as seconds from now: seconds left, or an absolute time in ms since the epoch."""
    if not _number(value):
        return None
    if value > 10**11:  # an absolute timestamp in ms
        return max(0.0, (value - now_ms) / 1000)
    return max(0.0, float(value))


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def job_fraction(job: JobView) -> float | None:
    """How far the job is: the worker's `overall` when it sends one, else the current node's steps."""
    overall = fraction_of(job.overall)
    if overall is not None:
        return 1.0 if job.state == "done" else overall
    if job.state == "done":
        return 1.0
    progress = job.progress or {}
    if job.state in STAGE_NAMES or job.state in TERMINAL_STATES:
        return fraction_of(progress) if progress else None
    return None


def progress_text(fraction: float | None, width: int = BAR_WIDTH) -> str:
    if fraction is None:
        return ""
    filled = round(fraction * width)
    return f"{'█' * filled}{'░' * (width - filled)} {round(fraction * 100):3d}%"


def stage_text(job: JobView) -> str:
    if job.stage is None:
        return "—"
    return f"{job.stage} p{job.passes + 1}" if job.passes else job.stage


def excerpt(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def id_excerpt(job_id: str, width: int) -> str:
    """A job id cut in the middle: its end stays, where a compare group's ids (`<group>-1`, `-2`) differ."""
    if len(job_id) <= width:
        return job_id
    head = (width - 1) // 2
    return f"{job_id[:head]}…{job_id[len(job_id) - (width - 1 - head) :]}"


class RowCells(NamedTuple):
    """The plain text of a table row, compared between refreshes to update only the cells that changed."""

    id: str
    prompt: str
    state: str
    stage: str
    progress: str
    eta: str
    backend: str
    age: str


def row_cells(job: JobView, now_ms: int, id_width: int, prompt_width: int) -> RowCells:
    eta = eta_seconds(job.eta, now_ms) if not job.finished else None
    state = f"{job.state}*" if job.cancel_requested and not job.finished else job.state
    return RowCells(
        id=id_excerpt(job.job_id, id_width),
        prompt=excerpt(job.prompt, prompt_width) if job.has_snapshot else "…",
        state=state,
        stage=stage_text(job),
        progress=progress_text(job_fraction(job)),
        eta=duration(eta * 1000) if eta is not None else "—",
        backend=job.backend or "—",
        age=age(now_ms - job.created_at) if job.created_at else "—",
    )
