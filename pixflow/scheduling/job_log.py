"""One log line at INFO for each step of a job's life an operator follows: accepted, placed, ended (a failure at
WARNING, with its error code). `job %s` and `backend %s` in each format give the JSON log its `job_id` and `backend`
fields (cli/logs.py)."""

from __future__ import annotations

import logging

from pixflow.jobs.job import Job
from pixflow.vocabulary import JobState

log = logging.getLogger("pixflow.jobs")


def accepted(job: Job) -> None:
    params = job.params
    log.info(
        "job %s accepted: workflow %s, %dx%d, %d steps, priority %d%s",
        job.job_id,
        job.workflow.name,
        params.width,
        params.height,
        params.steps,
        params.priority,
        f", group {job.group_id}" if job.group_id else "",
    )


def placed(job: Job, backend: str) -> None:
    log.info("job %s placed on backend %s as prompt %s (attempt %d)", job.job_id, backend, job.prompt_id, job.attempts)


def ended(job: Job) -> None:
    took = (job.finished_at - job.created_at) / 1000 if job.finished_at is not None else 0.0
    if job.job_state == JobState.DONE:
        log.info("job %s done in %.1fs on backend %s: %d images", job.job_id, took, job.backend, len(job.outputs))
    elif job.job_state == JobState.CANCELLED:
        log.info("job %s cancelled after %.1fs (backend %s)", job.job_id, took, job.backend)
    else:
        error = job.error or {}
        log.warning(
            "job %s failed (%s) after %.1fs on backend %s: %s",
            job.job_id,
            error.get("code"),
            took,
            job.backend,
            error.get("message"),
        )
