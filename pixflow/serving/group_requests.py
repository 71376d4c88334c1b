"""The `compare`, `sheet` and `group` requests (docs/protocol.md): a group of jobs (one per model and seed, or one
per cell of a sprite sheet) and its state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pixflow.errors import ErrorCode, RequestError
from pixflow.groups.plan import GroupPlan, parse_compare
from pixflow.groups.sheet_plan import SheetPlan, parse_sheet
from pixflow.security.quota import check_owner_quota
from pixflow.serving import workflow_requests
from pixflow.serving.context import Request, Serving
from pixflow.serving.fields import GroupRef, NewGroup
from pixflow.workflows.params import GenerateParams


def _invalid(message: str) -> RequestError:
    return RequestError(ErrorCode.INVALID_PARAMS, message)


def compare(worker: Serving, request: Request, fields: NewGroup) -> dict[str, Any]:
    return _answer(worker, request, fields, _compare_plan)


def sheet(worker: Serving, request: Request, fields: NewGroup) -> dict[str, Any]:
    """A sprite sheet: one job per cell, each with its row's prompt, its column's seed and the sheet's cell size."""
    return _answer(worker, request, fields, _sheet_plan)


def _answer(
    worker: Serving, request: Request, fields: NewGroup, plan_of: Callable[[Serving, dict[str, Any]], GroupPlan]
) -> dict[str, Any]:
    # Like `generate`'s id: a known group is answered as it is, whatever the other fields say (a retry).
    if fields.group_id is not None and (job_ids := worker.groups.job_ids(fields.group_id)):
        return _group_reply(worker, request, fields.group_id, job_ids, existing=True)
    if worker.draining:
        raise RequestError(ErrorCode.SHUTTING_DOWN, "the worker is stopping and takes no new jobs; retry later")
    return _create(worker, request, plan_of(worker, request.message), request.message)


def _compare_plan(worker: Serving, message: dict[str, Any]) -> GroupPlan:
    _check_lengths(message, worker.settings.max_group_jobs)
    return parse_compare(message, worker.settings.max_group_jobs)


def _sheet_plan(worker: Serving, message: dict[str, Any]) -> GroupPlan:
    plan = parse_sheet(message, worker.settings.max_group_jobs)
    _check_sheet_workflow(worker, plan)
    return GroupPlan(plan.group_id, plan.jobs)


def _check_sheet_workflow(worker: Serving, plan: SheetPlan) -> None:
    workflow = worker.workflows.get(plan.workflow)
    if workflow is None:
        return  # _check names the known ones
    if workflow.post is None or not any(step.name == "cell" for step in workflow.post.steps):
        with_cells = sorted(
            name
            for name, other in worker.workflows.items()
            if other.post is not None and any(step.name == "cell" for step in other.post.steps)
        )
        raise _invalid(
            f"workflow {plan.workflow!r} has no sprite cell step (post: ... cell), which a sheet needs; "
            f"workflows with one: {', '.join(with_cells) or 'none'}"
        )


def _create(worker: Serving, request: Request, plan: GroupPlan, message: dict[str, Any]) -> dict[str, Any]:
    _check(worker, plan)
    owner = request.caller.name  # the key's name, never the request's
    check_owner_quota(worker.settings, worker.store, owner)
    workflow = worker.workflows[plan.jobs[0][1].workflow or worker.settings.default_workflow]
    # Each job's own `params`, `loras` and `images` checked (and its images kept) as `generate` does, all of them
    # before the first job is made: one bad field rejects the group whole.
    prepared: list[tuple[str, GenerateParams]] = []
    try:
        for job_id, params in plan.jobs:
            prepared.append((job_id, workflow_requests.prepare(worker, message, params, workflow, job_id)))
    except Exception:  # a refused field, or a disk that cannot keep the images: none of the group's copies stay
        for _, params in prepared:
            workflow_requests.discard(params)
        raise
    for job_id, params in prepared:
        worker.scheduler.create_job(job_id, replace(params, owner=owner), workflow, group_id=plan.group_id)
    job_ids = [job_id for job_id, _ in plan.jobs]
    return _group_reply(worker, request, plan.group_id, job_ids, existing=False)


def group(worker: Serving, request: Request, ref: GroupRef) -> dict[str, Any]:
    job_ids = worker.groups.job_ids(ref.group_id)
    if not job_ids:
        raise RequestError(ErrorCode.NOT_FOUND, f"no group {ref.group_id!r}")
    return _group_reply(worker, request, ref.group_id, job_ids, existing=True)


def _check_lengths(message: dict[str, Any], max_jobs: int) -> None:
    """`models` and `seeds` at most `max_group_jobs` each, refused before a single entry is read (a list of a million
    seeds is a few MB of msgpack: cheap to send, and not worth walking to refuse)."""
    for name in ("models", "seeds"):
        values = message.get(name)
        if isinstance(values, list) and len(values) > max_jobs:
            raise _invalid(f"'{name}' has {len(values)} entries; at most {max_jobs} (max_group_jobs)")


def _check(worker: Serving, plan: GroupPlan) -> None:
    """Everything that could stop a job of the group, before the first is made: a group is whole or not at all."""
    scheduler = worker.scheduler
    workflow_name = plan.jobs[0][1].workflow or worker.settings.default_workflow
    if workflow_name not in worker.workflows:
        raise _invalid(f"unknown workflow {workflow_name!r}; known: {', '.join(sorted(worker.workflows))}")
    known_models = scheduler.known_models()
    for _, params in plan.jobs:
        if params.model is not None and known_models and params.model not in known_models:
            raise _invalid(f"unknown model {params.model!r}; available: {', '.join(sorted(known_models))}")
    for job_id, _ in plan.jobs:
        if scheduler.find(job_id) is not None:
            raise _invalid(f"job id {job_id!r} of group {plan.group_id!r} is already a job outside it")
    free = worker.settings.max_queued - scheduler.registry.queued_count()
    if len(plan.jobs) > free:
        raise RequestError(
            ErrorCode.QUEUE_FULL, f"the queue has room for {max(free, 0)} jobs, the group needs {len(plan.jobs)}"
        )


def _group_reply(
    worker: Serving, request: Request, group_id: str, job_ids: list[str], existing: bool
) -> dict[str, Any]:
    details = worker.groups.describe(group_id, job_ids)
    return request.reply("group", group_id=group_id, job_ids=job_ids, existing=existing, **details)
