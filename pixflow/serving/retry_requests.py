"""`retry`: a job's request made again as a new job, on the worker, which still holds its input images.

A sheet's frame is re-rolled this way: the new job joins the old one's group in the same cell (its `sheet` fields
are copied), and when the group has ended again the sheet is rebuilt from the newest job of each cell. Its id is
`<group_id>-<n>` with the group's next n, or the client's `id`, or a fresh one outside a group; a known `id` is
answered as it is (a retry of the retry), like `generate`'s.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from pixflow.errors import ErrorCode, RequestError
from pixflow.groups.plan import group_job_id
from pixflow.security.quota import check_owner_quota
from pixflow.serving.context import Request, Serving
from pixflow.serving.fields import Retry
from pixflow.workflows.images import keep
from pixflow.workflows.params import GenerateParams


def retry(serving: Serving, request: Request, fields: Retry) -> dict[str, Any]:
    if fields.new_id is not None and (existing := serving.scheduler.find(fields.new_id)) is not None:
        return request.reply("accepted", job_id=existing.job_id, existing=True, state=existing.state)
    old = serving.scheduler.find(fields.job_id)
    if old is None:
        raise RequestError(ErrorCode.NOT_FOUND, f"no job {fields.job_id!r}")
    request.caller.check_owner("retry", old.job_id, old.params.owner)
    if not old.finished:
        raise RequestError(ErrorCode.INVALID_PARAMS, f"job {old.job_id} is {old.state}: only an ended job is retried")
    if serving.draining:
        raise RequestError(ErrorCode.SHUTTING_DOWN, "the worker is stopping and takes no new jobs; retry later")
    workflow = serving.workflows.get(old.workflow.name)
    if workflow is None:
        raise RequestError(ErrorCode.INVALID_PARAMS, f"job {old.job_id}'s workflow {old.workflow.name!r} is gone")
    check_owner_quota(serving.settings, serving.store, request.caller.name)
    job_id = fields.new_id or _next_id(serving, old.group_id)
    params = replace(old.params, owner=request.caller.name, images=_images_again(serving, old.params, job_id))
    if fields.new_seed:
        params = replace(params, seed=random.SystemRandom().randrange(2**32))  # as generate draws one
    elif fields.seed is not None:
        params = replace(params, seed=fields.seed)
    try:
        job = serving.scheduler.create_job(job_id, params, workflow, group_id=old.group_id)
    except RequestError:
        if params.images:
            for image in params.images.values():
                Path(image["file"]).unlink(missing_ok=True)
        raise
    return request.reply("accepted", job_id=job.job_id, existing=False, state=job.state, retry_of=old.job_id)


def _next_id(serving: Serving, group_id: str | None) -> str:
    if group_id is None:
        return uuid.uuid4().hex
    count = len(serving.groups.job_ids(group_id))
    while serving.scheduler.find(candidate := group_job_id(group_id, count + 1)) is not None:
        count += 1  # an id of the pattern taken outside the group
    return candidate


def _images_again(serving: Serving, params: GenerateParams, job_id: str) -> dict[str, dict[str, Any]] | None:
    """The old job's input images, copied under the new job (each job owns its folder, removed with it)."""
    if not params.images:
        return None
    checked = {}
    for name, image in params.images.items():
        try:
            data = Path(image["file"]).read_bytes()
        except OSError as e:
            raise RequestError(
                ErrorCode.NOT_FOUND, f"the worker's copy of input image {name!r} is gone ({e}): send it again"
            ) from e
        info = {key: value for key, value in image.items() if key not in ("file", "comfy_name")}
        checked[name] = (data, info)
    return keep(serving.settings.output_dir / job_id, job_id, checked)
