"""Graceful stop: after SIGTERM the worker takes no new job and hands no prompt to ComfyUI, but keeps serving
until the prompts ComfyUI already has are finished and their images saved, or `shutdown_grace` runs out.

Runs on the worker loop's thread. Jobs still in pixflow's own queue stay in the store and run after the next
start; a prompt still on a backend when the grace ends is re-attached after the next start (durability.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pixflow.jobs.dispatch import ON_BACKEND, Phase
from pixflow.scheduling.scheduler import Scheduler
from pixflow.vocabulary import TERMINAL, JobState

log = logging.getLogger(__name__)

# A job being saved (phase FETCHING) holds no backend slot any more, but stopping would leave its outputs half
# written; a job on a backend may be running. Nothing else can become either once dispatch has stopped.
_BUSY = ON_BACKEND | {Phase.FETCHING}
_UNFINISHED = [state.value for state in JobState if state not in TERMINAL]


class Drain:
    def __init__(self, scheduler: Scheduler, grace: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._scheduler = scheduler
        self._grace = grace
        self._clock = clock
        self._deadline: float | None = None
        self._watched: list[str] = []  # unfinished jobs when the drain began, narrowed to the busy ones

    @property
    def active(self) -> bool:
        return self._deadline is not None

    def begin(self) -> bool:
        """Start draining; False if it had already started (a second signal: the caller stops at once)."""
        if self._deadline is not None:
            return False
        self._deadline = self._clock() + self._grace
        self._watched = self._unfinished()
        busy = self.busy()
        log.info(
            "stopping: no new jobs; waiting up to %gs for %d job(s) in ComfyUI or being saved (%s)",
            self._grace,
            len(busy),
            ", ".join(busy) or "none",
        )
        return True

    def busy(self) -> list[str]:
        """The jobs a stop would interrupt: on a backend, or having their outputs saved."""
        registry = self._scheduler.registry
        self._watched = [
            job_id for job_id in self._watched if (job := registry.get(job_id)) is not None and job.phase in _BUSY
        ]
        return list(self._watched)

    def _unfinished(self) -> list[str]:
        # Read once when the drain begins: the store's index knows every unfinished job; the registry has the
        # live object whose phase tells whether it is busy.
        job_ids, _ = self._scheduler.store.page(_UNFINISHED, 10_000_000, 0)
        return job_ids

    def finished(self) -> bool:
        """True once nothing is left to wait for, or the grace has run out."""
        if self._deadline is None:
            return False
        busy = self.busy()
        if not busy:
            log.info("stopping: every job handed to ComfyUI has ended")
            return True
        if self._clock() >= self._deadline:
            log.warning(
                "stopping: shutdown_grace (%gs) is over with %d job(s) still in ComfyUI or being saved (%s); "
                "they are re-attached after the next start",
                self._grace,
                len(busy),
                ", ".join(busy),
            )
            return True
        return False
