"""The jobs the worker knows: live and recently finished, the dispatch queue, prompt_id lookup."""

from __future__ import annotations

import heapq
from collections import OrderedDict

from pixflow.jobs.dispatch import may_send
from pixflow.jobs.job import Job
from pixflow.vocabulary import JobState


class JobRegistry:
    def __init__(self, max_finished: int) -> None:
        self._jobs: dict[str, Job] = {}
        self._by_prompt: dict[str, Job] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._max_finished = max_finished
        # (-priority, position, job_id): higher priority first, then arrival order (the store's position), so
        # a job sent back to the queue goes back to its own place, ahead of everything that came after it.
        self._pending: list[tuple[int, int, str]] = []
        self._waiting: set[str] = set()  # the jobs in _pending that can still be dispatched

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def by_prompt(self, prompt_id: str | None) -> Job | None:
        return self._by_prompt.get(prompt_id) if prompt_id else None

    def add(self, job: Job, queue: bool = True) -> None:
        self._jobs[job.job_id] = job
        self._by_prompt[job.prompt_id] = job
        if queue:
            heapq.heappush(self._pending, (-job.params.priority, job.position, job.job_id))
            self._waiting.add(job.job_id)

    def requeue(self, job: Job) -> None:
        """Put back a job whose submission failed or whose prompt ComfyUI lost, in its original place."""
        heapq.heappush(self._pending, (-job.params.priority, job.position, job.job_id))
        self._waiting.add(job.job_id)

    def pop_next(self) -> Job | None:
        """The next job to dispatch; cancelled or already-dispatched entries are skipped."""
        while self._pending:
            _, _, job_id = heapq.heappop(self._pending)
            self._waiting.discard(job_id)
            job = self._jobs.get(job_id)
            if job is not None and job.job_state == JobState.QUEUED and may_send(job.phase):
                return job
        return None

    def queued_count(self) -> int:
        """Jobs waiting in pixflow's own queue (not yet handed to a backend)."""
        return len(self._waiting)

    def mark_finished(self, job: Job) -> None:
        """Keep a finished job for status queries, forgetting the oldest past the limit."""
        self._by_prompt.pop(job.prompt_id, None)
        self._waiting.discard(job.job_id)
        self._finished[job.job_id] = None
        while len(self._finished) > self._max_finished:
            old_id, _ = self._finished.popitem(last=False)
            self._jobs.pop(old_id, None)

    def count_by_state(self) -> dict[str, int]:
        counts = {state.value: 0 for state in JobState}
        for job in self._jobs.values():
            counts[job.state] += 1
        return counts
