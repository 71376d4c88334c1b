"""Rendering a job's events on a terminal: a live line with stage, progress bar and ETA."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from pixflow.client import Client
from pixflow.vocabulary import TERMINAL_STATES, TOPIC_PROGRESS, TOPIC_STATE, JobState

__all__ = ["JobLine", "ProgressPrinter", "follow_jobs", "print_result"]

BAR_WIDTH = 20


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

    def render(self) -> str:
        elapsed = time.monotonic() - self.started
        text = f"{self.job_id[:12]:<12} {self.state:<9}"
        if self.maximum and self.state == JobState.SAMPLING:
            filled = round(BAR_WIDTH * self.value / self.maximum)
            text += f" {'█' * filled}{'░' * (BAR_WIDTH - filled)} {self.value}/{self.maximum}"
            eta = self.eta()
            if eta is not None:
                text += f"  ETA {eta:4.1f}s"
        return f"{text}  {elapsed:5.1f}s"


class ProgressPrinter:
    """A live line on a terminal; one line per state change elsewhere (logs, pipes)."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self._stream = stream
        self._live = stream.isatty()
        self._lines: dict[str, JobLine] = {}

    def show(self, topic: str, event: dict[str, Any]) -> None:
        job_id = event["job_id"]
        line = self._lines.setdefault(job_id, JobLine(job_id))
        before = line.state
        line.update(topic, event)
        if self._live:
            end = "\n" if line.state in TERMINAL_STATES else ""
            self._stream.write(f"\r\033[K{line.render()}{end}")
        elif line.state != before:
            self._stream.write(line.render() + "\n")
        self._stream.flush()


def follow_jobs(client: Client, job_ids: list[str], timeout: float) -> int:
    """Show live progress until every job ends, then print outputs. Exit code 1 unless all are done.

    Through `Client.follow_jobs`: a missed event or a worker restart is made good by reading `status`, so the
    final state is always shown (subscribe to the jobs before submitting them to see every step)."""
    printer = ProgressPrinter()
    finals: dict[str, dict[str, Any]] = {}
    for topic, event in client.follow_jobs(job_ids, timeout):
        printer.show(topic, event)
        if topic.startswith(TOPIC_STATE) and event["to"] in TERMINAL_STATES:
            finals[event["job_id"]] = event
            print_result({**event, "state": event["to"]})
    return 0 if all(final["to"] == JobState.DONE for final in finals.values()) else 1


def print_result(job: dict[str, Any]) -> int:
    """Print a finished job's images or error (from a `job` snapshot or a final job.state event)."""
    if job["state"] == JobState.DONE:
        for output in job.get("outputs", []):
            print(f"  {output['path']}  ({output['width']}x{output['height']})")
        return 0
    print(f"  {job['state']}: {(job.get('error') or {}).get('message', '')}")
    return 1
