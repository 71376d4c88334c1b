"""The jobs the worker knows: live and recently finished, the dispatch queue, prompt_id lookup."""

from __future__ import annotations

import heapq
from collections import Counter, OrderedDict
from collections.abc import Callable
from enum import Enum

from pixflow.jobs.dispatch import Phase
from pixflow.jobs.job import Job
from pixflow.vocabulary import JobState


class Visit(Enum):
    TAKEN = "taken"
    SKIP = "skip"
    STOP = "stop"


class JobRegistry:
    def __init__(self, max_finished: int) -> None:
        self._jobs: dict[str, Job] = {}
        self._by_prompt: dict[str, Job] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._max_finished = max_finished
        # (-priority, fair rank, position, job_id): higher priority first; within a priority, owners take turns
        # (start-time fair queuing: an owner's nth waiting job ranks with every other owner's nth), then arrival.
        # A job sent back to the queue keeps its key, so it goes back to its own place.
        self._pending: list[tuple[int, int, int, str]] = []
        self._rank: dict[str, int] = {}
        self._owner_next: dict[tuple[int, str | None], int] = {}  # (priority, owner) -> rank of its next job
        self._clock: dict[int, int] = {}  # priority -> rank of the last job taken from it
        self._waiting: dict[str, str | None] = {}  # the jobs in _pending that can still be dispatched: checkpoint
        self._waiting_models: Counter[str | None] = Counter()  # waiting jobs per checkpoint (placement weighs them)

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def by_prompt(self, prompt_id: str | None) -> Job | None:
        return self._by_prompt.get(prompt_id) if prompt_id else None

    def add(self, job: Job, queue: bool = True) -> None:
        self._jobs[job.job_id] = job
        self._by_prompt[job.prompt_id] = job
        if queue:
            self.requeue(job)

    def requeue(self, job: Job) -> None:
        """Put back a job whose submission failed or whose prompt ComfyUI lost, in its original place."""
        heapq.heappush(self._pending, self._key(job))
        if job.job_id not in self._waiting:
            model = job.needs.checkpoint
            self._waiting[job.job_id] = model
            self._waiting_models[model] += 1

    def _unwait(self, job_id: str) -> None:
        if job_id in self._waiting:
            model = self._waiting.pop(job_id)
            self._waiting_models[model] -= 1
            if not self._waiting_models[model]:
                del self._waiting_models[model]

    def waiting_by_model(self) -> Counter[str | None]:
        """How many jobs wait in pixflow's queue for each checkpoint (None: the graph names none)."""
        return self._waiting_models

    def _key(self, job: Job) -> tuple[int, int, int, str]:
        priority = job.params.priority
        rank = self._rank.get(job.job_id)
        if rank is None:
            band = (priority, job.params.owner)
            # An owner idle for a while starts at the band's clock, not at its old count: no credit for idleness.
            rank = max(self._owner_next.get(band, 0), self._clock.get(priority, 0))
            self._owner_next[band] = rank + 1
            self._rank[job.job_id] = rank
        return (-priority, rank, job.position, job.job_id)

    def taken(self, job: Job) -> None:
        """A job sent outside a visit (a deferred placement): it no longer counts as waiting."""
        self._unwait(job.job_id)
        self._taken(job)

    def _taken(self, job: Job) -> None:
        priority = job.params.priority
        self._clock[priority] = max(self._clock.get(priority, 0), self._rank.get(job.job_id, 0))

    def visit_waiting(self, visit: Callable[[Job], Visit]) -> None:
        """Offer the waiting jobs to `visit` in dispatch order (priority, then arrival): a job it TAKES leaves
        the queue, one it SKIPs keeps its place (a later job may be placed before it), STOP ends the visit."""
        skipped: list[tuple[int, int, int, str]] = []
        try:
            while self._pending:
                entry = heapq.heappop(self._pending)
                job = self._jobs.get(entry[3])
                if job is None or job.job_state != JobState.QUEUED or job.phase != Phase.WAITING:
                    self._unwait(entry[3])
                    continue
                outcome = visit(job)
                if outcome == Visit.TAKEN:
                    self._unwait(entry[3])
                    self._taken(job)
                    continue
                skipped.append(entry)
                if outcome == Visit.STOP:
                    return
        finally:
            for entry in skipped:
                heapq.heappush(self._pending, entry)

    def reprompted(self, job: Job, old_prompt_id: str) -> None:
        """The job is sent again under a new prompt id: events of its old copy must no longer reach it."""
        self._by_prompt.pop(old_prompt_id, None)
        self._by_prompt[job.prompt_id] = job

    def live(self) -> list[Job]:
        """Jobs not finished, in arrival order."""
        return sorted((job for job in self._jobs.values() if not job.finished), key=lambda job: job.position)

    def queued_count(self) -> int:
        """Jobs waiting in pixflow's own queue (not yet handed to a backend)."""
        return len(self._waiting)

    def mark_finished(self, job: Job) -> None:
        """Keep a finished job for status queries, forgetting the oldest past the limit."""
        self._by_prompt.pop(job.prompt_id, None)
        self._unwait(job.job_id)
        self._rank.pop(job.job_id, None)
        self._finished[job.job_id] = None
        while len(self._finished) > self._max_finished:
            old_id, _ = self._finished.popitem(last=False)
            self._jobs.pop(old_id, None)

    def count_by_state(self) -> dict[str, int]:
        counts = {state.value: 0 for state in JobState}
        for job in self._jobs.values():
            counts[job.state] += 1
        return counts
