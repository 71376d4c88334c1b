"""Moving prompts between backends: failover from a backend that is gone, and prompts parked where they wait
longer than they would elsewhere.

* Failover. A backend down for `failover_after` seconds has every prompt it holds sent to another backend
  (attempt + 1, from the start, under a new prompt id). Its copies are remembered; when it returns they are
  deleted from its queue or interrupted by their prompt id, never by a global interrupt, and nothing they
  produce reaches the job: its events name a prompt id the job no longer has.
* Rebalancing. A prompt waiting in a busy backend's own queue (not started) is asked out of it (delete, then
  confirmed through /queue and /history) when another backend that can run it sits idle, and placed again.
"""

from __future__ import annotations

import logging
import time

from pixflow.jobs.dispatch import Phase
from pixflow.jobs.job import Job
from pixflow.jobs.life import Event
from pixflow.scheduling.backends import BackendState
from pixflow.scheduling.choice import MARGIN, Option, run_seconds, wall_ms
from pixflow.scheduling.context import Shared
from pixflow.scheduling.placement import Placement

log = logging.getLogger(__name__)


class Moves:
    def __init__(self, shared: Shared, placement: Placement) -> None:
        self._shared = shared
        self._placement = placement

    # Failover.
    def on_down(self, state: BackendState) -> None:
        if state.down_since is not None:
            return
        since = state.down_since = time.monotonic()
        delay = self._shared.settings.failover_after
        self._shared.schedule(
            delay, lambda: self._shared.life.guard(None, "failover", lambda: self._fail_over(state, since))
        )

    def on_up(self, state: BackendState) -> None:
        state.down_since = None
        for prompt_id in sorted(state.discard):
            state.backend.discard(prompt_id)
        state.discard.clear()

    def _fail_over(self, state: BackendState, since: float) -> None:
        if state.up or state.down_since != since or state.name not in self._shared.backends:
            return  # it came back (or went down again later: that outage has its own timer)
        jobs = self._shared.holding(state)
        if jobs:
            log.warning(
                "backend %s down for %ss: sending its %d prompts to other backends",
                state.name,
                self._shared.settings.failover_after,
                len(jobs),
            )
        for job in jobs:
            self._shared.life.fire(job, Event.BACKEND_GONE)

    # Rebalancing.
    def rebalance(self) -> None:
        """An idle backend asks over a prompt parked in another backend's queue when it would finish it sooner."""
        shared = self._shared
        now = time.monotonic()
        pool = list(shared.backends.values())
        idle = [b for b in pool if b.accepts_prompts(now) and shared.book.inflight(b.name) == 0]
        if not idle:
            return
        now_ms = wall_ms()
        for state in pool:
            parked = self._parked(state) if state.up else []
            if not parked:
                continue
            run_here = run_seconds(state, pool)
            ahead = self._placement.running_rest(state, pool, now_ms)
            for place, job in enumerate(parked):
                finish_here = ahead + run_here * (place + 1)
                there = [self._placement.option(b, job.needs, True, 0.0, pool) for b in idle]
                best = min(
                    (
                        o
                        for o, b in zip(there, idle, strict=True)
                        if b.capabilities and b.capabilities.can_run(job.needs)
                    ),
                    key=Option.rank,
                    default=None,
                )
                if best is not None and best.finish < finish_here - MARGIN:
                    self._shared.life.fire(job, Event.WITHDRAW)
                    idle = [b for b in idle if b.name != best.name]
                    if not idle:
                        return

    def _parked(self, state: BackendState) -> list[Job]:
        """Prompts waiting in this backend's own queue, behind the one it runs (or is about to run)."""
        waiting = [
            job
            for job in self._shared.holding(state)
            if job.started_at is None and job.prompt_id != state.running_prompt
        ]
        if state.running_prompt is None and waiting:
            waiting = waiting[1:]  # nothing reported running: the oldest is next and may start any moment
        return [job for job in waiting if job.phase == Phase.SUBMITTED]  # followed live: may be asked out

    def withdraw_all(self, state: BackendState) -> None:
        """A disabled backend: every prompt waiting in its queue goes elsewhere; what runs finishes there."""
        for job in self._shared.holding(state):
            if job.started_at is None:
                self._shared.life.fire(job, Event.WITHDRAW)
