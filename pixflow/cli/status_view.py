"""Readable forms of the worker's replies for `pixflow status` and `pixflow jobs` (`--json` prints them as sent).

Plain text, no rich: these commands must start fast (tests/test_cli_startup.py). Job ids are always whole: a
user copies them into the next command, and a compare group's ids differ only at their end.
"""

from __future__ import annotations

from typing import Any

from pixflow.vocabulary import JobState

PROMPT_WIDTH = 40
EMPTY = "—"


def number(value: Any) -> str:
    """A count, a limit or a measure for people: whole numbers in full (2^64-1, not 1.84467e+19)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    return str(value)


def excerpt(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _backend_line(backend: dict[str, Any]) -> str:
    health = "up" if backend.get("up") is True else f"down ({backend.get('reason') or 'no reason given'})"
    mode = backend.get("mode") or "active"
    flight = f"{backend.get('inflight', 0)}/{backend.get('max_inflight', '?')} in flight"
    loaded = f", {backend['loaded_model']} loaded" if backend.get("loaded_model") else ""
    return f"  {backend.get('name')}: {health}, {mode}, {flight}{loaded}  {backend.get('url', '')}"


def worker_lines(worker: dict[str, Any]) -> list[str]:
    lifecycle = "stopping (takes no new jobs)" if worker.get("shutting_down") else "serving"
    dispatch = "paused (no job is handed to ComfyUI until `pixflow resume`)" if worker.get("paused") else "running"
    lines = [
        f"worker:   pixflow {worker.get('version')}, protocol {worker.get('protocol')}, {lifecycle}",
        f"dispatch: {dispatch}",
    ]
    counts = worker.get("jobs") or {}
    shown = ", ".join(f"{state} {count}" for state, count in counts.items() if count) or "none"
    lines.append(f"jobs:     {shown}")
    if isinstance(worker.get("queued"), int):
        lines.append(f"queue:    {worker['queued']} of {worker.get('max_queued', '?')} waiting for a backend")
    backends = worker.get("backends") or []
    lines.append(f"backends: {len(backends)}" if backends else "backends: none")
    lines.extend(_backend_line(backend) for backend in backends)
    security = worker.get("security") or {}
    if security.get("curve"):
        lines.append(f"security: CURVE, {security.get('clients')} keys, {security.get('rejected')} rejected")
    return lines


def _progress(job: dict[str, Any]) -> str:
    progress = job.get("progress") or {}
    parts = []
    if isinstance(job.get("overall"), int | float):
        parts.append(f"{round(job['overall'] * 100)}% overall")
    if progress.get("max"):
        parts.append(f"step {progress.get('value')}/{progress['max']} of node {progress.get('node')}")
    if isinstance(job.get("eta"), int | float):
        parts.append(f"ETA {job['eta']:.1f}s")
    return ", ".join(parts)


def job_lines(job: dict[str, Any]) -> list[str]:
    params = job.get("params") or {}
    lines = [f"job:      {job.get('job_id')}" + (f" (group {job['group_id']})" if job.get("group_id") else "")]
    lines.append(f"state:    {job.get('state')}" + (f", stage {job['stage']}" if job.get("stage") else ""))
    if job.get("state") == JobState.QUEUED and job.get("wait_reason"):
        lines.append(f"waiting:  {job['wait_reason']}")
    if progress := _progress(job):
        lines.append(f"progress: {progress}")
    if isinstance(params.get("prompt"), str):
        lines.append(f"prompt:   {excerpt(params['prompt'], 100)}")
    lines.append(f"workflow: {job.get('workflow')}, backend {job.get('backend') or EMPTY}")
    error = job.get("error")
    if error:
        lines.append(f"error:    {error.get('message', '')} ({error.get('code', '?')})")
    for output in job.get("outputs") or []:
        lines.append(f"output:   {output.get('path')}  ({output.get('width')}x{output.get('height')})")
        if output.get("raw_path"):  # a sprite: its generation and palette (docs/sprites.md)
            palette = output.get("palette") or []
            lines.append(f"raw:      {output['raw_path']}  palette ({len(palette)}): {' '.join(palette[:16])}")
    return lines


def jobs_lines(reply: dict[str, Any]) -> list[str]:
    """A table of a `jobs` reply, newest first, and how to ask for the next page."""
    jobs = reply.get("jobs") or []
    if not jobs:
        return [f"no jobs ({reply.get('total', 0)} match)"]
    rows = [("ID", "STATE", "STAGE", "BACKEND", "PROMPT")]
    for job in jobs:
        prompt = (job.get("params") or {}).get("prompt")
        rows.append(
            (
                str(job.get("job_id")),
                str(job.get("state")),
                str(job.get("stage") or EMPTY),
                str(job.get("backend") or EMPTY),
                excerpt(prompt, PROMPT_WIDTH) if isinstance(prompt, str) else EMPTY,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)), row[4]]) for row in rows]
    start = int(reply.get("offset") or 0)
    footer = f"{len(jobs)} of {reply.get('total', len(jobs))} matching (from {start + 1})"
    if reply.get("next"):
        footer += f"; next page: --before {reply['next']}"
    return [*lines, footer]
