"""Choosing a backend for one job: where it would finish first, counting a model switch and what is queued there.

Pure: the placement (placement.py) describes each capable backend as an `Option` and asks `choose`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pixflow.scheduling.backends import BackendState

DEFAULT_SWITCH_SECONDS = 5.0  # a checkpoint load on a real GPU, until a backend has shown its own
DEFAULT_RUN_SECONDS = 1.0  # until any backend has finished a job
MARGIN = 0.05  # seconds: a busy backend must be this much sooner to be worth waiting for


@dataclass(frozen=True)
class Option:
    name: str
    free: bool  # takes a prompt now (up, active, a slot free)
    backlog: float  # seconds until the prompts already on it are done
    switch: float  # seconds this job would add by making it load another checkpoint
    run: float  # seconds this job would run there
    loaded_match: bool
    last_used: float

    @property
    def finish(self) -> float:
        return self.backlog + self.switch + self.run

    def rank(self) -> tuple[float, bool, float]:
        # Soonest finish; among equals the one with the job's model loaded, then the least recently used.
        return (round(self.finish, 3), not self.loaded_match, self.last_used)


def choose(options: list[Option]) -> str | None:
    """The free backend where the job finishes first; None to wait when a busy one would still finish it sooner."""
    free = [option for option in options if option.free]
    if not free:
        return None
    best_free = min(free, key=Option.rank)
    best = min(options, key=Option.rank)
    if not best.free and best.finish < best_free.finish - MARGIN:
        return None  # parking it behind the free one's queue or a model switch would be slower
    return best_free.name


def run_seconds(state: BackendState, pool: list[BackendState]) -> float:
    if state.seconds_per_job is not None:
        return state.seconds_per_job
    known = [b.seconds_per_job for b in pool if b.seconds_per_job is not None]
    return sum(known) / len(known) if known else DEFAULT_RUN_SECONDS


def switch_seconds(state: BackendState) -> float:
    """What loading another checkpoint costs this backend: learned, or the default until it has shown one."""
    return state.switch_seconds if state.switch_seconds is not None else DEFAULT_SWITCH_SECONDS


def remaining(run: float, started_at_ms: int | None, now_ms: int) -> float:
    """Seconds left of a prompt expected to run `run` seconds. One that overruns is assumed to go on as long
    again, so that a stuck backend grows less attractive instead of looking about to be free."""
    if started_at_ms is None:
        return run
    elapsed = max(0.0, (now_ms - started_at_ms) / 1000)
    return run - elapsed if elapsed <= run else elapsed - run


def wall_ms() -> int:
    return time.time_ns() // 1_000_000
