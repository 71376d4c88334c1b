"""The workflow side of `generate` and `list_workflows`: a job's values checked against what its workflow declares
and what the backends' /object_info says the inputs take; its images kept; each workflow described with its typed
parameters and the backends that can run it (docs/workflows.md).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from pixflow.comfy.capabilities import Capabilities
from pixflow.errors import ErrorCode, RequestError, SpriteError
from pixflow.serving.context import Serving
from pixflow.serving.rules import known
from pixflow.webhooks.targets import parse_webhook
from pixflow.workflows import Workflow
from pixflow.workflows.checks import fitness
from pixflow.workflows.images import ImageLimits, check_images, keep
from pixflow.workflows.params import GenerateParams, parse_custom_values, parse_loras
from pixflow.workflows.post import images_named
from pixflow.workflows.schema import check_custom, check_fields, check_loras, custom_schemas, field_schemas

log = logging.getLogger(__name__)


def _pool(worker: Serving) -> list[tuple[str, Capabilities | None]]:
    return [(name, state.capabilities) for name, state in worker.scheduler.backends.items()]


def limits(worker: Serving) -> ImageLimits:
    settings = worker.settings
    formats = tuple(f.strip().lower() for f in settings.image_formats.split(",") if f.strip())
    return ImageLimits(settings.max_image_bytes, settings.max_image_side, formats)


def prepare(
    worker: Serving, message: dict[str, Any], params: GenerateParams, workflow: Workflow, job_id: str
) -> GenerateParams:
    """The job's parameters with its own `params`, `loras` and `images` checked; its images written to its folder.

    Refused (invalid_params): a workflow no backend can run (every backend heard from), a field or parameter
    outside what the inputs it fills take, a LoRA no backend has, an image too large or of another format.
    """
    rules = worker.rule_cache.rules(workflow, tuple(_pool(worker)))
    caps = rules.caps
    if not rules.fit.runnable:
        raise RequestError(ErrorCode.INVALID_PARAMS, rules.fit.reason(workflow.name))
    check_fields(workflow, params, caps, rules.fields)
    custom = check_custom(workflow, parse_custom_values(message), caps, rules.custom)
    loras = parse_loras(message)
    check_loras(workflow, loras, caps)
    checked = check_images(workflow, message.get("images"), limits(worker))
    check_post(workflow, custom, params.sheet, set(checked or ()))
    named = parse_webhook(message.get("webhook"), worker.settings.webhook_hosts)
    webhook = named or _default_webhook(worker, params.owner)
    kept = keep(worker.settings.output_dir / job_id, job_id, checked) if checked else None
    return replace(params, custom=custom, loras=loras, images=kept, webhook=webhook)


def _default_webhook(worker: Serving, owner: str | None) -> dict[str, str] | None:
    """The operator's defaults (not held to webhook_hosts): the client's own (by its owner name, then a proxy user's
    key name), else the worker's."""
    settings = worker.settings
    names = [owner, owner.partition(":")[0]] if owner else []
    default = next((settings.webhook_client_defaults[n] for n in names if n in settings.webhook_client_defaults), None)
    default = default or settings.webhook_default
    return {"url": default[0], "events": default[1]} if default is not None else None


def check_post(
    workflow: Workflow, custom: dict[str, Any] | None, sheet: dict[str, Any] | None, images: set[str]
) -> None:
    """The job's sprite steps as they will run: its values together, and a palette from an image it sends."""
    try:
        pipeline = workflow.pipeline_for(custom, sheet)
    except SpriteError as e:
        raise RequestError(ErrorCode.INVALID_PARAMS, f"'params': {e.message}") from e
    for name in sorted(images_named(pipeline)) if pipeline is not None else ():
        if name not in images:
            sent = ", ".join(sorted(images)) or "none"
            message = f"'params': the palette is taken from image {name!r}, which the job does not send ({sent})"
            raise RequestError(ErrorCode.INVALID_PARAMS, message)


def discard(params: GenerateParams) -> None:
    """A job that was not made after all (queue full): its images go."""
    for image in (params.images or {}).values():
        shutil.rmtree(Path(image["file"]).parent, ignore_errors=True)
        break


def describe(worker: Serving, workflow: Workflow) -> dict[str, Any]:
    """One `list_workflows` entry: the older fields, then every parameter typed, its images, LoRAs and backends."""
    pool = _pool(worker)
    caps = known(pool)
    entry = workflow.describe()
    entry["parameters"] = [s.to_wire() for s in field_schemas(workflow, caps) + custom_schemas(workflow, caps)]
    entry["images"] = [
        {"name": slot.name, "description": slot.description, "required": slot.required, "target": str(slot.target)}
        for slot in workflow.images.values()
    ]
    entry["max_loras"] = workflow.loras.max if workflow.loras is not None else 0
    entry.update(fitness(workflow, pool).to_wire())
    return entry
