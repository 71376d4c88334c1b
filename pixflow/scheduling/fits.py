"""How well a waiting job suits a backend, for choosing between jobs of one priority (placement.py).

Two things make a job suit a backend: its checkpoint is the one loaded there (no model switch), and it is the
backend's *primary* checkpoint: the one the split of the waiting work (split.py) gives it, so that the backends
which can run fewer models are left the jobs they can run. A job that suits its backend less than some waiting job could
lets the later jobs of its priority go first; it takes the backend if none of them suits it better.
"""

from __future__ import annotations

from collections.abc import Mapping

from pixflow.jobs.job import Job
from pixflow.scheduling.backends import BackendState
from pixflow.scheduling.choice import Option, run_seconds, switch_seconds
from pixflow.scheduling.split import Capacity, needed, split

IN_SPLIT = 2  # weighs more than avoiding a switch: the split already keeps loaded models where they are
NO_SWITCH = 1


class Fits:
    def __init__(
        self, waiting: Mapping[str | None, int], pool: list[BackendState], backlog: Mapping[str, float]
    ) -> None:
        self._waiting = dict(waiting)  # counted down as this round places jobs
        usable = [b for b in pool if b.capabilities is not None and b.taking_jobs]
        capacities = [
            Capacity(b.name, run_seconds(b, pool), backlog[b.name], b.capabilities.checkpoints, b.loaded_model)
            for b in usable
            if b.capabilities is not None
        ]
        self._primary: dict[str, str | None] = {}  # backend -> the checkpoint the split gives it (None: any)
        if needed(self._waiting, capacities):
            quotas = split(self._waiting, capacities).quotas
            for b in usable:
                mine = {checkpoint: jobs for (name, checkpoint), jobs in quotas.items() if name == b.name}
                self._primary[b.name] = _primary(mine, b.loaded_model, switch_seconds(b) / run_seconds(b, pool))

    def in_split(self, backend: str, checkpoint: str | None) -> bool:
        primary = self._primary.get(backend)
        return primary is None or checkpoint == primary

    def fit(self, option: Option, job: Job) -> int:
        return IN_SPLIT * self.in_split(option.name, job.needs.checkpoint) + NO_SWITCH * (not option.switch)

    def best(self, state: BackendState) -> int:
        """The fit of the waiting checkpoint that would suit this backend best."""
        offered = state.capabilities.checkpoints if state.capabilities is not None else frozenset()
        best = 0
        for checkpoint, count in self._waiting.items():
            if count > 0 and (checkpoint is None or checkpoint in offered):
                switch = checkpoint is not None and state.loaded_model not in (None, checkpoint)
                best = max(best, IN_SPLIT * self.in_split(state.name, checkpoint) + NO_SWITCH * (not switch))
        return best

    def taken(self, checkpoint: str | None) -> None:
        self._waiting[checkpoint] = self._waiting.get(checkpoint, 0) - 1


def _primary(quotas: dict[str | None, float], loaded: str | None, switch_jobs: float) -> str | None:
    """The one checkpoint a backend keeps to while the split gives it jobs of it: the loaded one while it has
    half a job or more there, else its largest share if that is worth a switch (a switch costs `switch_jobs` of
    its jobs). One per backend, so that a backend the split gives two models does not switch back and forth."""
    if loaded is not None and quotas.get(loaded, 0.0) >= 0.5:
        return loaded
    if not quotas:
        return None
    largest = max(quotas, key=lambda checkpoint: quotas[checkpoint])
    return largest if quotas[largest] >= (switch_jobs if loaded is not None else 0.5) else None
