"""What the scheduler's parts share: the job model's owners and the loop's timers, all on the loop's thread."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pixflow.config import Settings
from pixflow.errors import FailureCode
from pixflow.jobs.dispatch import DispatchBook, Phase
from pixflow.jobs.job import Job
from pixflow.jobs.machine import JobMachine, Trigger
from pixflow.jobs.registry import JobRegistry
from pixflow.jobs.store import JobStore
from pixflow.loop.watcher import Schedule
from pixflow.publisher import Publisher
from pixflow.scheduling.backends import BackendState

log = logging.getLogger(__name__)

JobGuard = Callable[[Job | None, str, Callable[[], None]], None]


@dataclass
class Shared:
    settings: Settings
    store: JobStore
    publisher: Publisher
    registry: JobRegistry
    machine: JobMachine
    book: DispatchBook
    backends: dict[str, BackendState]
    schedule: Schedule
    guard: JobGuard  # runs a step about one job; a failure in it fails that job with `internal`

    def backend_of(self, job: Job) -> BackendState:
        if job.backend is None or job.backend not in self.backends:
            raise KeyError(f"job {job.job_id} is on no configured backend ({job.backend!r})")
        return self.backends[job.backend]

    def after(self, delay: float, job: Job, what: str, step: Callable[[], None]) -> None:
        """Run `step` on the loop in `delay` seconds, guarded like every message about this job."""
        self.schedule(delay, lambda: self.guard(job, what, step))

    def holding(self, state: BackendState) -> list[Job]:
        """The jobs on this backend, oldest first (prompts it lost are sent again in their order)."""
        jobs = filter(None, map(self.registry.get, self.book.holding(state.name)))
        return sorted(jobs, key=lambda job: job.position)

    def fail(self, job: Job, code: FailureCode, message: str, **details: Any) -> None:
        job.error = {"code": code.value, "message": message, **details}
        self.machine.fire(job, Trigger.FAIL)

    def ask_where(self, job: Job) -> None:
        """Ask the job's backend, through /history and /queue, where its prompt is (answers: reconcile.py)."""
        self.book.move(job, Phase.RECONCILING)
        self.backend_of(job).backend.reconcile(job.job_id, job.prompt_id)
