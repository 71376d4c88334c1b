"""Request handlers: one function per request type, each returning the reply map."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pixflow import __version__
from pixflow.errors import ErrorCode, RequestError
from pixflow.protocol import PROTOCOL_VERSION, reply
from pixflow.vocabulary import JobState
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

    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        handler: Callable[[RequestHandlers, dict[str, Any]], dict[str, Any]] = self._by_type[message["type"]]
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
        params = parse_generate(message)
        workflow_name = params.workflow or worker.settings.default_workflow
        workflow = worker.workflows.get(workflow_name)
        if workflow is None:
            known = ", ".join(sorted(worker.workflows))
            raise _invalid(f"unknown workflow {workflow_name!r}; known: {known}")
        known_models = worker.scheduler.known_models()
        if params.model is not None and known_models and params.model not in known_models:
            raise _invalid(f"unknown model {params.model!r}; available: {', '.join(sorted(known_models))}")
        job = worker.scheduler.create_job(job_id or uuid.uuid4().hex, params, workflow)
        return reply("accepted", message.get("req_id"), job_id=job.job_id, existing=False, state=job.state)

    def cancel(self, message: dict[str, Any]) -> dict[str, Any]:
        job = self._job(message)
        if job.finished:
            raise RequestError(ErrorCode.ALREADY_FINISHED, f"job {job.job_id} has already ended ({job.state})")
        self._worker.scheduler.cancel_job(job)
        return reply("job", message.get("req_id"), **job.snapshot())

    def status(self, message: dict[str, Any]) -> dict[str, Any]:
        if message.get("job_id") is not None:
            return reply("job", message.get("req_id"), **self._job(message).snapshot())
        return reply("worker", message.get("req_id"), **self._worker.status())

    def list_jobs(self, message: dict[str, Any]) -> dict[str, Any]:
        states = message.get("state")
        if isinstance(states, str):
            states = [states]
        valid = {s.value for s in JobState}
        if states is not None and (not isinstance(states, list) or not set(states) <= valid):
            raise _invalid(f"'state' must be a state or a list of states from: {', '.join(valid)}")
        limit = message.get("limit", 100)
        offset = message.get("offset", 0)
        for name, value in (("limit", limit), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise _invalid(f"'{name}' must be a non-negative integer")
        scheduler = self._worker.scheduler
        job_ids, total = self._worker.store.page(states, min(limit, MAX_LIST_LIMIT), offset)
        page = [job.snapshot() for job_id in job_ids if (job := scheduler.find(job_id)) is not None]
        return reply("jobs", message.get("req_id"), jobs=page, total=total, offset=offset)

    def list_models(self, message: dict[str, Any]) -> dict[str, Any]:
        scheduler = self._worker.scheduler
        per_backend = {name: list(state.models) for name, state in scheduler.backends.items()}
        return reply("models", message.get("req_id"), models=sorted(scheduler.known_models()), backends=per_backend)

    def list_workflows(self, message: dict[str, Any]) -> dict[str, Any]:
        workflows = [workflow.describe() for workflow in self._worker.workflows.values()]
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
    }
