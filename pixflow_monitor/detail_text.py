"""The text of the job detail pane: a summary line, why a queued job waits, parameters, time in each stage, the
error of a failed job."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from pixflow.vocabulary import TERMINAL_STATES, JobState
from pixflow_monitor.format import STATE_STYLES, duration, eta_seconds, job_fraction, progress_text
from pixflow_monitor.job_view import JobView

TRACEBACK_LINES = 6
STATE_ORDER = {state.value: index for index, state in enumerate(JobState)}  # states entered in the same ms


def timeline(job: JobView, now_ms: int) -> list[tuple[str, int, int | None]]:
    """(state, entered at, time spent) for each state the job has been in, in order; None: still there."""
    entered = sorted(job.state_times.items(), key=lambda item: (item[1], STATE_ORDER.get(item[0], 99)))
    rows: list[tuple[str, int, int | None]] = []
    for index, (state, at) in enumerate(entered):
        if index + 1 < len(entered):
            rows.append((state, at, entered[index + 1][1] - at))
        elif state in TERMINAL_STATES:
            rows.append((state, at, 0))
        else:
            rows.append((state, at, None if now_ms is None else now_ms - at))
    return rows


def params_text(job: JobView) -> Text:
    """The job's parameters, compactly: the prompts in full, the numbers a few to a line."""
    params = dict(job.params)
    text = Text()
    text.append("prompt ", "dim")
    text.append(f"{params.pop('prompt', '')}\n")
    for key, label in (("negative_prompt", "negative "), ("model", "model ")):
        value = params.pop(key, None)
        if value:
            text.append(label, "dim")
            text.append(f"{value}\n")
    size = params.pop("size", None)
    size_text = f"{size[0]}x{size[1]}" if isinstance(size, list | tuple) and len(size) == 2 else str(size)
    workflow = params.pop("workflow", None) or job.workflow
    previews = params.pop("previews", None)
    sheet = params.pop("sheet", None)
    lines = (
        (("size", size_text), ("steps", params.pop("steps", None)), ("cfg", params.pop("cfg_scale", None))),
        (("seed", params.pop("seed", None)), ("batch", params.pop("batch_size", None))),
        (("sampler", params.pop("sampler", None)), ("scheduler", params.pop("scheduler", None))),
        (("workflow", workflow), ("priority", params.pop("priority", None))),
        (("previews", "on" if previews else "off"), ("backend", job.backend), ("passes", job.passes or None)),
        (("group", job.group_id),),  # `compare` groups: g filters the table by it
        tuple((key, value) for key, value in sorted(params.items())),  # fields a newer worker may add
    )
    for line in lines:
        shown = [(key, value) for key, value in line if value is not None]
        for index, (key, value) in enumerate(shown):
            text.append(f"{'  ' if index else ''}{key} ", "dim")
            text.append(str(value))
        if shown:
            text.append("\n")
    if isinstance(sheet, dict):
        text.append_text(sheet_text(sheet))
    text.append_text(sprite_text(job))
    text.rstrip()
    return text


def sheet_text(sheet: dict[str, Any]) -> Text:
    """Where a sheet's frame sits: its row and frame among the sheet's, the cell, the locked palette if given."""
    text = Text()
    rows, cell = sheet.get("rows") or [], sheet.get("cell") or ["?", "?"]
    text.append("sheet ", "dim")
    text.append(f"row {sheet.get('row')} ({int(sheet.get('row_index') or 0) + 1}/{len(rows)})")
    text.append(f"  frame {int(sheet.get('frame') or 0) + 1}/{sheet.get('frames')}  cell {cell[0]}x{cell[1]}")
    palette = sheet.get("palette")
    if palette:
        shown = palette if "\n" not in palette and len(palette) <= 40 else "a palette file"
        text.append(f"  palette {shown}")
    text.append("\n")
    return text


def sprite_text(job: JobView) -> Text:
    """The sprite steps' result of each output: its size, the raw generation's, and the palette as swatches."""
    text = Text()
    for output in job.outputs:
        palette = output.get("palette")
        if palette is None:
            continue
        grid = next((r.get("found") or {} for r in output.get("post") or [] if r.get("step") == "grid"), {})
        text.append(f"sprite {output.get('index', 0)} ", "dim")
        text.append(f"{output.get('width')}x{output.get('height')}")
        if grid.get("size"):
            source = "found" if grid.get("detected") else "given"
            text.append(f"  grid {grid['size'][0]}x{grid['size'][1]} ({source})", "dim")
        text.append(f"  palette ({len(palette)}) ", "dim")
        for colour in palette[:32]:
            text.append("  ", f"on {colour}")
        text.append("\n")
    return text


def timeline_text(job: JobView, now_ms: int) -> Text:
    """One line per state: when the job entered it (from its creation), how long it stayed, as a bar."""
    rows = timeline(job, now_ms)
    if not rows:
        return Text("no state times yet", "dim")
    longest = max((spent or 0 for _, _, spent in rows), default=0) or 1
    start = rows[0][1]
    text = Text()
    for index, (state, at, spent) in enumerate(rows):
        if index:
            text.append("\n")
        text.append(f"{state:<9}", STATE_STYLES.get(state, ""))
        text.append(f"{'+' + duration(at - start):>8} ", "dim")
        if state in TERMINAL_STATES:
            continue
        live = state == job.state
        text.append(f"{duration(spent)}{'…' if live else '':<1} ")
        if spent:
            text.append("█" * max(1, round(12 * spent / longest)), "yellow" if live else "blue")
    return text


def wait_text(job: JobView) -> Text | None:
    """The worker's `wait_reason` for a queued job (what each backend lacks, which capable ones are down or
    draining, or that it waits for a slot); None when it is not waiting or the worker gave no reason."""
    if job.state != JobState.QUEUED or not job.wait_reason:
        return None
    return Text(job.wait_reason, "yellow")


def error_text(error: dict[str, Any]) -> Text:
    text = Text()
    text.append(f"{error.get('code', '?')}\n", "bold red")
    text.append(f"{str(error.get('message') or '').rstrip()}\n")
    for key in ("node_id", "node_type", "exception_type"):
        if error.get(key):
            text.append(f"{key}: ", "dim")
            text.append(f"{error[key]}\n")
    if error.get("node_errors"):
        for node, details in error["node_errors"].items():
            details = details or {}
            text.append(f"node {node} ({details.get('class_type', '?')}): ", "dim")
            problems = [
                f"{item.get('message', '')} {item.get('details', '')}".strip() for item in details.get("errors") or []
            ]
            text.append("; ".join(problems) + "\n")
    traceback = [line.rstrip() for chunk in error.get("traceback") or [] for line in str(chunk).splitlines()]
    if traceback:
        text.append("traceback (last lines):\n", "dim")
        text.append("\n".join(line.strip() for line in traceback[-TRACEBACK_LINES:] if line.strip()), "dim red")
    text.rstrip()
    return text


def summary_text(job: JobView, now_ms: int) -> Text:
    text = Text()
    text.append(job.state, STATE_STYLES.get(job.state, ""))
    if job.state == "failed":
        text.append(f" ({(job.error or {}).get('code', 'no error details')})", "red")
    if job.cancel_requested and not job.finished:
        text.append(" (cancel requested)", "magenta")
    fraction = job_fraction(job)
    if fraction is not None and not job.finished:
        text.append(f"  {progress_text(fraction, 16)}")
        progress = job.progress or {}
        if progress.get("max"):
            text.append(f"  step {progress.get('value')}/{progress.get('max')} (node {progress.get('node')})", "dim")
    eta = eta_seconds(job.eta, now_ms) if not job.finished else None
    if eta is not None:
        text.append(f"  ETA {duration(eta * 1000)}")
    return text
