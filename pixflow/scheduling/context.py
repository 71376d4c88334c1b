"""What the scheduler's parts share: the job model's owners, the backends and the shell of a job's life, all on the
loop's thread."""

from __future__ import annotations

from dataclasses import dataclass

from pixflow.jobs.dispatch import DispatchBook
from pixflow.jobs.job import Job
from pixflow.jobs.registry import JobRegistry
from pixflow.loop.sink import EventSink
from pixflow.loop.watcher import Schedule
from pixflow.scheduling.backends import BackendState
from pixflow.scheduling.life_shell import JobLife
from pixflow.settings import Settings


@dataclass(frozen=True)
class Shared:
    settings: Settings
    publisher: EventSink  # backend figures (a job's events: the shell's)
    registry: JobRegistry
    book: DispatchBook
    backends: dict[str, BackendState]
    schedule: Schedule
    life: JobLife  # every change to a job goes through it (jobs/life.py's table)

    def holding(self, state: BackendState) -> list[Job]:
        """The jobs on this backend, oldest first (prompts it lost are sent again in their order)."""
        jobs = filter(None, map(self.registry.get, self.book.holding(state.name)))
        return sorted(jobs, key=lambda job: job.position)
