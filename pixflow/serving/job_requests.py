"""The requests about jobs and what the worker offers: one function per request type, each given the worker's parts
(`Serving`), the request and its parsed fields (fields.py), and returning the reply map. requests.py lists them."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from pixflow import __version__
from pixflow.errors import ErrorCode, RequestError
from pixflow.jobs.job import Job
from pixflow.protocol import PROTOCOL_VERSION
from pixflow.security.quota import check_owner_quota
from pixflow.serving import fetch, workflow_requests
from pixflow.serving.context import Request, Serving
from pixflow.serving.fields import JobPage, JobRef, NewJob, NoFields, OutputRef, StatusOf
from pixflow.workflows.params import parse_generate


def _invalid(message: str) -> RequestError:
    return RequestError(ErrorCode.INVALID_PARAMS, message)


def ping(serving: Serving, request: Request, _: NoFields) -> dict[str, Any]:
    # started_at lets a client notice that the worker restarted between two pings.
    return request.reply("pong", version=__version__, protocol=PROTOCOL_VERSION, started_at=serving.started_at)


def generate(serving: Serving, request: Request, fields: NewJob) -> dict[str, Any]:
    job_id = fields.job_id
    if job_id is not None and (existing := serving.scheduler.find(job_id)) is not None:
        return request.reply("accepted", job_id=job_id, existing=True, state=existing.state)
    if serving.draining:  # a retry of a known id is still answered above: that job exists
        raise RequestError(ErrorCode.SHUTTING_DOWN, "the worker is stopping and takes no new jobs; retry later")
    message = request.message
    params = replace(parse_generate(message), owner=request.caller.name)  # the key's name, never the request's
    check_owner_quota(serving.settings, serving.store, params.owner)
    workflow_name = params.workflow or serving.settings.default_workflow
    workflow = serving.workflows.get(workflow_name)
    if workflow is None:
        known = ", ".join(sorted(serving.workflows))
        raise _invalid(f"unknown workflow {workflow_name!r}; known: {known}")
    known_models = serving.scheduler.known_models()
    if params.model is not None and known_models and params.model not in known_models:
        raise _invalid(f"unknown model {params.model!r}; available: {', '.join(sorted(known_models))}")
    job_id = job_id or uuid.uuid4().hex
    params = workflow_requests.prepare(serving, message, params, workflow, job_id)  # params, loras, images
    try:
        job = serving.scheduler.create_job(job_id, params, workflow)
    except RequestError:
        workflow_requests.discard(params)
        raise
    return request.reply("accepted", job_id=job.job_id, existing=False, state=job.state)


def cancel(serving: Serving, request: Request, fields: JobRef) -> dict[str, Any]:
    job = find_job(serving, fields.job_id)
    request.caller.check_owner("cancel", job.job_id, job.params.owner)
    if job.finished:
        raise RequestError(ErrorCode.ALREADY_FINISHED, f"job {job.job_id} has already ended ({job.state})")
    serving.scheduler.cancel_job(job)
    return request.reply("job", **job.snapshot())


def status(serving: Serving, request: Request, fields: StatusOf) -> dict[str, Any]:
    if fields.job_id is not None:
        return request.reply("job", **find_job(serving, fields.job_id).snapshot())
    return request.reply("worker", **serving.status())


def list_jobs(serving: Serving, request: Request, page: JobPage) -> dict[str, Any]:
    store, scheduler = serving.store, serving.scheduler
    before = None
    if page.before is not None:
        before = store.position_of(page.before)
        if before is None:
            raise RequestError(ErrorCode.NOT_FOUND, f"no job {page.before!r} to page before (unknown or forgotten)")
    job_ids, total = store.page(page.states, page.limit, page.offset, page.group_id, before)
    jobs = [job.snapshot() for job_id in job_ids if (job := scheduler.find(job_id)) is not None]
    more = len(job_ids) == page.limit and page.limit > 0
    return request.reply("jobs", jobs=jobs, total=total, offset=page.offset, next=job_ids[-1] if more else None)


def list_models(serving: Serving, request: Request, _: NoFields) -> dict[str, Any]:
    scheduler = serving.scheduler
    per_backend = {name: list(state.models) for name, state in scheduler.backends.items()}
    return request.reply("models", models=sorted(scheduler.known_models()), backends=per_backend)


def list_workflows(serving: Serving, request: Request, _: NoFields) -> dict[str, Any]:
    workflows = [workflow_requests.describe(serving, w) for w in serving.workflows.values()]
    return request.reply("workflows", workflows=workflows, default=serving.settings.default_workflow)


def fetch_output(serving: Serving, request: Request, ref: OutputRef) -> dict[str, Any]:
    """The job first (not_found, forbidden), then which image and its size (serving/fetch.py); or a sheet's file,
    whose owner is its jobs'."""
    if ref.group_id is not None:
        job_ids = serving.groups.job_ids(ref.group_id)
        first = serving.scheduler.find(job_ids[0]) if job_ids else None
        if first is None:
            raise RequestError(ErrorCode.NOT_FOUND, f"no group {ref.group_id!r}")
        request.caller.check_owner("fetch_output", first.job_id, first.params.owner)
        folder = serving.settings.output_dir / ref.group_id
        max_bytes = serving.settings.max_fetch_bytes
        return request.reply("image", **fetch.group_file(ref.group_id, folder, request.message, max_bytes))
    assert ref.job_id is not None
    job = find_job(serving, ref.job_id)
    request.caller.check_owner("fetch_output", job.job_id, job.params.owner)
    return request.reply("image", **fetch.output_image(job, request.message, serving.settings.max_fetch_bytes))


def fetch_preview(serving: Serving, request: Request, ref: JobRef) -> dict[str, Any]:
    job = find_job(serving, ref.job_id)
    request.caller.check_owner("fetch_preview", job.job_id, job.params.owner)
    return request.reply("image", **fetch.preview_image(job, request.message, serving.settings.max_fetch_bytes))


def find_job(serving: Serving, job_id: str) -> Job:
    job = serving.scheduler.find(job_id)
    if job is None:
        raise RequestError(ErrorCode.NOT_FOUND, f"no job {job_id!r}")
    return job
