"""Which jobs the table shows, and in which order."""

from __future__ import annotations

from collections.abc import Iterable

from pixflow.vocabulary import ACTIVE, STAGE_NAMES, TERMINAL_STATES
from pixflow_monitor.job_view import JobView

GROUP_FILTER = "group:"  # "group:<group_id>": one `compare` group's jobs, finished or not


def visible_jobs(
    jobs: Iterable[JobView], state_filter: str, now_ms: int, keep_finished_ms: int, keep: set[str]
) -> list[JobView]:
    """The jobs shown under a filter, active ones first (newest first), then finished ones (last finished first).

    `all` lets finished jobs age out after `keep_finished_ms`; the state filters show every job the monitor
    holds in those states; `group:<id>` every job of that `compare` group. Jobs in `keep` (the selected one, the
    one looked up) are always shown."""
    if state_filter == "all":
        horizon = now_ms - keep_finished_ms
        shown = [j for j in jobs if not j.finished or (j.finished_at or now_ms) >= horizon or j.job_id in keep]
    elif state_filter == "active":
        shown = [j for j in jobs if j.state in ACTIVE or j.job_id in keep]
    elif state_filter.startswith(GROUP_FILTER):
        group_id = state_filter.removeprefix(GROUP_FILTER)
        shown = [j for j in jobs if j.group_id == group_id or j.job_id in keep]
    elif state_filter == "running":
        shown = [j for j in jobs if j.state in STAGE_NAMES or j.job_id in keep]
    else:
        shown = [j for j in jobs if j.state == state_filter or j.job_id in keep]
    return sorted(shown, key=row_order)


def row_order(job: JobView) -> tuple[int, int, str]:
    if job.state in TERMINAL_STATES:
        return (1, -(job.finished_at or 0), job.job_id)
    return (0, -(job.created_at or 0), job.job_id)
