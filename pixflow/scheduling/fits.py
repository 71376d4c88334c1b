"""How well a waiting job suits a backend, for choosing between jobs of one priority (placement.py).

Two things make a job suit a backend: its checkpoint is the one loaded there (no model switch), and the split
of the waiting work (split.py) gives jobs of that checkpoint to that backend, so that the backends which can
run fewer models are left the jobs they can run. A job that suits its backend less than some waiting job could
lets the later jobs of its priority go first; it takes the backend if none of them suits it better.
"""

from __future__ import annotations

from collections.abc import Mapping

from pixflow.jobs.job import Job
from pixflow.scheduling.backends import BackendState, Mode
from pixflow.scheduling.choice import Option, run_seconds, switch_seconds
from pixflow.scheduling.split import Capacity, needed, split

IN_SPLIT = 2  # weighs more than avoiding a switch: the split already keeps loaded models where they are
NO_SWITCH = 1


class Fits:
    def __init__(
        self, waiting: Mapping[str | None, int], pool: list[BackendState], backlog: Mapping[str, float]
    ) -> None:
        self._waiting = dict(waiting)  # counted down as this round places jobs
        usable = [b for b in pool if b.capabilities is not None and b.up and b.mode == Mode.ACTIVE and not b.retiring]
        capacities = [
            Capacity(b.name, run_seconds(b, pool), backlog[b.name], b.capabilities.checkpoints, b.loaded_model)
            for b in usable
            if b.capabilities is not None
        ]
        self._states = {b.name: b for b in usable}
        self._switch_jobs = {b.name: switch_seconds(b) / run_seconds(b, pool) for b in usable}
        self._quotas = dict(split(self._waiting, capacities).quotas) if needed(self._waiting, capacities) else None

    def in_split(self, state: BackendState, checkpoint: str | None, switch: bool) -> bool:
        """The split gives this backend jobs of the checkpoint: at least half a job, and where it would have to
        load the checkpoint, enough jobs to be worth the switch (a switch costs this many of its jobs)."""
        if self._quotas is None:
            return True
        least = max(0.5, self._switch_jobs[state.name]) if switch else 0.5
        return self._quotas.get((state.name, checkpoint), 0.0) >= least

    def fit(self, option: Option, job: Job) -> int:
        state = self._states[option.name]
        switch = bool(option.switch)
        return IN_SPLIT * self.in_split(state, job.needs.checkpoint, switch) + NO_SWITCH * (not switch)

    def best(self, state: BackendState) -> int:
        """The fit of the waiting checkpoint that would suit this backend best."""
        offered = state.capabilities.checkpoints if state.capabilities is not None else frozenset()
        best = 0
        for checkpoint, count in self._waiting.items():
            if count > 0 and (checkpoint is None or checkpoint in offered):
                switch = checkpoint is not None and state.loaded_model not in (None, checkpoint)
                best = max(best, IN_SPLIT * self.in_split(state, checkpoint, switch) + NO_SWITCH * (not switch))
        return best

    def taken(self, backend: str, checkpoint: str | None) -> None:
        self._waiting[checkpoint] = self._waiting.get(checkpoint, 0) - 1
        if self._quotas is not None:
            self._quotas[(backend, checkpoint)] = self._quotas.get((backend, checkpoint), 0.0) - 1
