"""Rendering jobs' events for `submit --wait`, `compare --wait` and the demo.

On a terminal: rich progress bars, one per job, with its stage, the sampler's step and an ETA from the step rate.
Elsewhere (a pipe, a log, CI): one plain line per state change, which scripts and tests read.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TextIO

from pixflow.client import Client
from pixflow.vocabulary import TERMINAL_STATES, TOPIC_PROGRESS, TOPIC_STATE, JobState

__all__ = ["JobLine", "ProgressPrinter", "follow_jobs", "print_result"]

BAR_WIDTH = 20
ID_WIDTH = 12  # at least; a longer id is shown whole (a compare group's ids differ only at their end)


@dataclass
class JobLine:
    job_id: str
    state: str = JobState.QUEUED.value
    value: int = 0
    maximum: int = 0
    step_times: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def update(self, topic: str, event: dict[str, Any]) -> None:
        if topic.startswith(TOPIC_STATE):
            self.state = event["to"]
        elif topic.startswith(TOPIC_PROGRESS):
            if event["value"] < self.value or event["max"] != self.maximum:
                self.step_times.clear()  # a new sampler node restarts the count
            self.value, self.maximum = event["value"], event["max"]
            self.step_times.append(time.monotonic())

    def eta(self) -> float | None:
        """Seconds left in the current sampler, from its step rate so far."""
        if len(self.step_times) < 2 or not self.maximum:
            return None
        per_step = (self.step_times[-1] - self.step_times[0]) / (len(self.step_times) - 1)
        return per_step * (self.maximum - self.value)

    def render(self, id_width: int = ID_WIDTH) -> str:
        elapsed = time.monotonic() - self.started
        text = f"{self.job_id:<{id_width}} {self.state:<9}"
        if self.maximum and self.state == JobState.SAMPLING:
            filled = round(BAR_WIDTH * self.value / self.maximum)
            text += f" {'█' * filled}{'░' * (BAR_WIDTH - filled)} {self.value}/{self.maximum}"
            eta = self.eta()
            if eta is not None:
                text += f"  ETA {eta:4.1f}s"
        return f"{text}  {elapsed:5.1f}s"


class ProgressPrinter:
    """Live rich bars on a terminal; one plain line per state change elsewhere. Use it as a context manager."""

    def __init__(self, stream: TextIO | None = None, job_ids: list[str] | None = None) -> None:
        self._stream = stream or sys.stdout
        self._id_width = max([ID_WIDTH, *(len(job_id) for job_id in job_ids or [])])
        self._lines: dict[str, JobLine] = {}
        self._bars: Any = None  # rich.progress.Progress on a terminal: imported only then
        self._tasks: dict[str, Any] = {}
        if self._stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bars = Progress(
                TextColumn(f"{{task.fields[job]:<{self._id_width}}} {{task.fields[state]:<9}}"),
                BarColumn(bar_width=BAR_WIDTH),
                TextColumn("{task.fields[steps]:>7}  {task.fields[eta]:<10}"),
                TimeElapsedColumn(),
                console=Console(file=self._stream),
            )

    def __enter__(self) -> ProgressPrinter:
        if self._bars is not None:
            self._bars.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._bars is not None:
            self._bars.stop()  # leaves the last frame on the screen

    def echo(self, text: str) -> None:
        """A line above the bars (or among the plain lines): a finished job's images or error."""
        if self._bars is not None:
            self._bars.console.print(text, markup=False, highlight=False)
        else:
            self._stream.write(text + "\n")
            self._stream.flush()

    def show(self, topic: str, event: dict[str, Any]) -> None:
        job_id = event["job_id"]
        line = self._lines.setdefault(job_id, JobLine(job_id))
        before = line.state
        line.update(topic, event)
        if self._bars is not None:
            self._draw(line)
        elif line.state != before:
            self._stream.write(line.render(self._id_width) + "\n")
            self._stream.flush()

    def _draw(self, line: JobLine) -> None:
        sampling = line.state == JobState.SAMPLING and line.maximum > 0
        eta = line.eta() if sampling else None
        fields = {
            "job": line.job_id,
            "state": line.state,
            "steps": f"{line.value}/{line.maximum}" if sampling else "",
            "eta": f"ETA {eta:.1f}s" if eta is not None else "",
        }
        total = line.maximum if sampling else None  # None: a pulsing bar while loading, encoding, ...
        if line.job_id not in self._tasks:
            self._tasks[line.job_id] = self._bars.add_task("", total=total, **fields)
        task = self._tasks[line.job_id]
        if line.state in TERMINAL_STATES:
            total = completed = 1  # a full bar for an ended job (its result is printed above)
        else:
            completed = line.value if sampling else 0
        self._bars.update(task, total=total, completed=completed, **fields)


def follow_jobs(client: Client, job_ids: list[str], timeout: float) -> int:
    """Show live progress until every job ends, then print outputs. Exit code 1 unless all are done.

    Through `Client.follow_jobs`: a missed event or a worker restart is made good by reading `status`, so the
    final state is always shown (subscribe to the jobs before submitting them to see every step)."""
    finals: dict[str, dict[str, Any]] = {}
    with ProgressPrinter(job_ids=job_ids) as printer:
        for topic, event in client.follow_jobs(job_ids, timeout):
            printer.show(topic, event)
            if topic.startswith(TOPIC_STATE) and event["to"] in TERMINAL_STATES:
                finals[event["job_id"]] = event
                print_result({**event, "state": event["to"]}, printer.echo)
    return 0 if all(final["to"] == JobState.DONE for final in finals.values()) else 1


def print_result(job: dict[str, Any], echo: Callable[[str], None] = print) -> int:
    """Print a finished job's images or error (from a `job` snapshot or a final job.state event)."""
    if job["state"] == JobState.DONE:
        for output in job.get("outputs", []):
            echo(f"  {output['path']}  ({output['width']}x{output['height']})")
        return 0
    echo(f"  {job['state']}: {(job.get('error') or {}).get('message', '')}")
    return 1
