"""Request handlers: one function per request type, each returning the reply map."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pixflow import __version__, fetch, group_handlers, workflow_requests
from pixflow.errors import ErrorCode, RequestError
from pixflow.protocol import PROTOCOL_VERSION, reply
from pixflow.request_fields import MAX_OFFSET, parse_int, parse_states
from pixflow.scheduling.backends import Mode
from pixflow.security.quota import check_owner_quota
from pixflow.security.roles import LOCAL_ADMIN, Caller
from pixflow.workflows.params import parse_generate, parse_job_id

if TYPE_CHECKING:
    from pixflow.jobs.job import Job
    from pixflow.worker import Worker

MAX_LIST_LIMIT = 1000


def _invalid(message: str) -> RequestError:
    return RequestError(ErrorCode.INVALID_PARAMS, message)


class RequestHandlers:
    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self.caller = LOCAL_ADMIN

    @property
    def types(self) -> frozenset[str]:
        return frozenset(self._by_type)

    def handle(self, message: dict[str, Any], caller: Caller = LOCAL_ADMIN) -> dict[str, Any]:
        handler: Callable[[RequestHandlers, dict[str, Any]], dict[str, Any]] = self._by_type[message["type"]]
        caller.check(message["type"])  # forbidden beyond the key's role (docs/security.md)
        self.caller = caller  # the loop serves one request at a time: handlers read it for owners
        return handler(self, message)

    def ping(self, message: dict[str, Any]) -> dict[str, Any]:
        # started_at lets a client notice that the worker restarted between two pings.
        return reply(
            "pong",
            message.get("req_id"),
            version=__version__,
            protocol=PROTOCOL_VERSION,
            started_at=self._worker.started_at,
        )

    def generate(self, message: dict[str, Any]) -> dict[str, Any]:
        worker = self._worker
        job_id = parse_job_id(message, "id")
        if job_id is not None and (existing := worker.scheduler.find(job_id)) is not None:
            return reply("accepted", message.get("req_id"), job_id=job_id, existing=True, state=existing.state)
        if worker.ops.draining:  # a retry of a known id is still answered above: that job exists
            raise RequestError(ErrorCode.SHUTTING_DOWN, "the worker is stopping and takes no new jobs; retry later")
        params = replace(parse_generate(message), owner=self.caller.name)  # the key's name, never the request's
        check_owner_quota(worker.settings, worker.store, params.owner)
        workflow_name = params.workflow or worker.settings.default_workflow
        workflow = worker.workflows.get(workflow_name)
        if workflow is None:
            known = ", ".join(sorted(worker.workflows))
            raise _invalid(f"unknown workflow {workflow_name!r}; known: {known}")
        known_models = worker.scheduler.known_models()
        if params.model is not None and known_models and params.model not in known_models:
            raise _invalid(f"unknown model {params.model!r}; available: {', '.join(sorted(known_models))}")
        job_id = job_id or uuid.uuid4().hex
        params = workflow_requests.prepare(worker, message, params, workflow, job_id)  # params, loras, images
        try:
            job = worker.scheduler.create_job(job_id, params, workflow)
        except RequestError:
            workflow_requests.discard(params)
            raise
        return reply("accepted", message.get("req_id"), job_id=job.job_id, existing=False, state=job.state)

    def cancel(self, message: dict[str, Any]) -> dict[str, Any]:
        job = self._job(message)
        self.caller.check_owner("cancel", job.job_id, job.params.owner)
        if job.finished:
            raise RequestError(ErrorCode.ALREADY_FINISHED, f"job {job.job_id} has already ended ({job.state})")
        self._worker.scheduler.cancel_job(job)
        return reply("job", message.get("req_id"), **job.snapshot())

    def status(self, message: dict[str, Any]) -> dict[str, Any]:
        if message.get("job_id") is not None:
            return reply("job", message.get("req_id"), **self._job(message).snapshot())
        return reply("worker", message.get("req_id"), **self._worker.status())

    def list_jobs(self, message: dict[str, Any]) -> dict[str, Any]:
        states = parse_states(message)
        limit = parse_int(message, "limit", 100, 0, MAX_OFFSET) or 0
        offset = parse_int(message, "offset", 0, 0, MAX_OFFSET) or 0
        scheduler = self._worker.scheduler
        group_id = parse_job_id(message, "group_id")  # only the jobs of this `compare` group
        store, size = self._worker.store, min(limit, MAX_LIST_LIMIT)
        before = None
        if (after_job := parse_job_id(message, "before")) is not None:  # the `next` of the page before
            before = store.position_of(after_job)
            if before is None:
                raise RequestError(ErrorCode.NOT_FOUND, f"no job {after_job!r} to page before (unknown or forgotten)")
        job_ids, total = store.page(states, size, offset, group_id, before)
        page = [job.snapshot() for job_id in job_ids if (job := scheduler.find(job_id)) is not None]
        more = len(job_ids) == size and size > 0
        return reply(
            "jobs", message.get("req_id"), jobs=page, total=total, offset=offset, next=job_ids[-1] if more else None
        )

    def list_models(self, message: dict[str, Any]) -> dict[str, Any]:
        scheduler = self._worker.scheduler
        per_backend = {name: list(state.models) for name, state in scheduler.backends.items()}
        return reply("models", message.get("req_id"), models=sorted(scheduler.known_models()), backends=per_backend)

    def list_workflows(self, message: dict[str, Any]) -> dict[str, Any]:
        workflows = [workflow_requests.describe(self._worker, w) for w in self._worker.workflows.values()]
        return reply(
            "workflows", message.get("req_id"), workflows=workflows, default=self._worker.settings.default_workflow
        )

    def pause(self, message: dict[str, Any]) -> dict[str, Any]:
        """Stop handing jobs to ComfyUI; jobs already there run to their end. Survives restarts."""
        self._worker.scheduler.set_paused(True)
        return reply("worker", message.get("req_id"), **self._worker.status())

    def resume(self, message: dict[str, Any]) -> dict[str, Any]:
        self._worker.scheduler.set_paused(False)
        return reply("worker", message.get("req_id"), **self._worker.status())

    # Backend control (docs/pool.md): admin only.
    def drain(self, message: dict[str, Any]) -> dict[str, Any]:
        """No new prompts for this backend; what it holds runs to the end there."""
        return self._backend_mode(message, Mode.DRAINING)

    def disable(self, message: dict[str, Any]) -> dict[str, Any]:
        """No new prompts; prompts waiting in its queue move to other backends; the running one finishes."""
        return self._backend_mode(message, Mode.DISABLED)

    def enable(self, message: dict[str, Any]) -> dict[str, Any]:
        return self._backend_mode(message, Mode.ACTIVE)

    def _backend_mode(self, message: dict[str, Any], mode: Mode) -> dict[str, Any]:
        figures = self._worker.scheduler.set_backend_mode(message.get("backend"), mode)
        return reply("backend", message.get("req_id"), **figures)

    def compare(self, message: dict[str, Any]) -> dict[str, Any]:
        return group_handlers.compare(self._worker, message)

    def group(self, message: dict[str, Any]) -> dict[str, Any]:
        return group_handlers.group(self._worker, message)

    def fetch_output(self, message: dict[str, Any]) -> dict[str, Any]:
        job = self._job(message)
        self.caller.check_owner("fetch_output", job.job_id, job.params.owner)
        image = fetch.output_image(job, message, self._worker.settings.max_fetch_bytes)
        return reply("image", message.get("req_id"), **image)

    def fetch_preview(self, message: dict[str, Any]) -> dict[str, Any]:
        job = self._job(message)
        self.caller.check_owner("fetch_preview", job.job_id, job.params.owner)
        image = fetch.preview_image(job, message, self._worker.settings.max_fetch_bytes)
        return reply("image", message.get("req_id"), **image)

    def _job(self, message: dict[str, Any]) -> Job:
        job_id = parse_job_id(message, "job_id")
        if job_id is None:
            raise _invalid("'job_id' is required")
        job = self._worker.scheduler.find(job_id)
        if job is None:
            raise RequestError(ErrorCode.NOT_FOUND, f"no job {job_id!r}")
        return job

    _by_type: dict[str, Callable[..., dict[str, Any]]] = {
        "ping": ping,
        "generate": generate,
        "cancel": cancel,
        "status": status,
        "list_jobs": list_jobs,
        "list_models": list_models,
        "list_workflows": list_workflows,
        "pause": pause,
        "resume": resume,
        "compare": compare,
        "group": group,
        "fetch_output": fetch_output,
        "fetch_preview": fetch_preview,
        "drain": drain,
        "disable": disable,
        "enable": enable,
    }
