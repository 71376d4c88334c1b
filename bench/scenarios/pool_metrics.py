"""What one policy's run of the pool benchmark measured, from the replay servers' own records (/replay/stats).

Every time here is time.monotonic() seconds: the servers record when each prompt started, had its model in
place and ended; the load generator records when it submitted each job. Same machine, same clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from bench.harness import percentile
from bench.scenarios.pool_setup import Gpu, PoolJob

Interval = tuple[float, float]


def server_stats(urls: list[str]) -> list[dict[str, Any]]:
    return [requests.get(f"{url}/replay/stats", timeout=10).json() for url in urls]


@dataclass
class Outcome:
    """One policy's run: when each job was submitted, which prompt it became, what the servers recorded."""

    policy: str
    jobs: list[PoolJob]
    submitted: dict[str, float]  # job id -> when it was submitted
    prompt_of: dict[str, str]  # job id -> prompt id (jobs that never became a prompt are missing)
    stats: list[dict[str, Any]]  # /replay/stats of each GPU, in GPUS order
    failed: int = 0

    def _runs(self) -> dict[str, dict[str, Any]]:
        """prompt id -> its finished run (the last, if it was sent twice)."""
        runs = {}
        for stats in self.stats:
            for run in stats["runs"]:
                if run["ended"] is not None and run["started"] is not None:
                    runs[run["prompt_id"]] = run
        return runs

    def starts(self) -> dict[str, float]:
        """job id -> when its prompt started executing on a GPU (jobs that never ran are missing)."""
        runs = self._runs()
        return {job: runs[prompt]["started"] for job, prompt in self.prompt_of.items() if prompt in runs}

    @property
    def begin(self) -> float:
        return min(self.submitted.values())

    def makespan(self) -> float:
        """From the first submission to the end of the last prompt on any GPU."""
        ends = [run["ended"] for run in self._runs().values()]
        return max(ends) - self.begin if ends else 0.0

    def switches(self) -> int:
        """Model switches: loads that replaced another checkpoint (each GPU's first load is not one)."""
        return sum(int(stats["model_switches"]) for stats in self.stats)

    def loads(self) -> int:
        return sum(int(stats["model_loads"]) for stats in self.stats)

    def queue_waits(self) -> list[float]:
        starts = self.starts()
        return [starts[job] - self.submitted[job] for job in starts]

    def p95_queue_wait(self) -> float:
        waits = self.queue_waits()
        return percentile(waits, 0.95) if waits else 0.0

    def idle_shares(self, gpus: tuple[Gpu, ...]) -> list[float]:
        """For each GPU, the share of the makespan it sat idle while a job it could run (its model is on that
        GPU) was waiting: submitted and not yet started anywhere. Jobs that never ran do not count as waiting."""
        starts, makespan = self.starts(), self.makespan()
        shares = []
        for gpu, stats in zip(gpus, self.stats, strict=True):
            waiting = merge(
                [(self.submitted[job.job_id], starts[job.job_id]) for job in self.jobs
                 if job.model in gpu.checkpoints and job.job_id in starts]
            )  # fmt: skip
            busy = merge([(run["started"], run["ended"]) for run in stats["runs"] if run["ended"] is not None])
            idle = length(waiting) - overlap(waiting, busy)
            shares.append(idle / makespan if makespan else 0.0)
        return shares


def merge(intervals: list[Interval]) -> list[Interval]:
    """Sorted, disjoint intervals covering the same time."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def length(intervals: list[Interval]) -> float:
    return sum(end - start for start, end in intervals)


def overlap(a: list[Interval], b: list[Interval]) -> float:
    """Time covered by both of two merged interval lists."""
    total, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        total += max(0.0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total
