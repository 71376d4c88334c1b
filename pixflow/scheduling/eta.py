"""Learning how long jobs of a shape take, and how many finish per minute."""

from __future__ import annotations

import time
from collections import deque

from pixflow.comfy.nodes import DEFAULT_STAGE_OF_NODE
from pixflow.jobs.job import Job
from pixflow.jobs.progress import EtaBook, JobProgress, job_shape, run_durations, sampler_steps_of
from pixflow.jobs.store import JobStore
from pixflow.vocabulary import JobState


class EtaLearner:
    def __init__(self, store: JobStore, default_backend: str) -> None:
        self._store = store
        self._default_backend = default_backend
        self.book = EtaBook(store.eta_load())

    def _shape(self, job: Job, backend: str | None) -> str:
        params = job.params
        return job_shape(job.workflow.name, params.model, params.width, params.height, params.steps, backend)

    def tracking_for(self, job: Job) -> JobProgress:
        backend = job.backend or self._default_backend
        stages = {**DEFAULT_STAGE_OF_NODE, **job.workflow.stages}
        sampler_types = {node_type for node_type, stage in stages.items() if stage == JobState.SAMPLING}
        return JobProgress(self.book.estimate(self._shape(job, backend)), sampler_steps_of(job.graph, sampler_types))

    def learn(self, job: Job) -> None:
        if job.tracking is None:
            return
        durations = run_durations(job.state_times, sum(job.tracking.sampler_steps.values()))
        if durations:
            self._store.eta_save(self.book.learn(self._shape(job, job.backend), durations))


class FinishRate:
    """Jobs done in the last minute."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def add(self) -> None:
        self._times.append(time.monotonic())

    def per_minute(self) -> int:
        horizon = time.monotonic() - 60
        while self._times and self._times[0] < horizon:
            self._times.popleft()
        return len(self._times)
