"""A job's sprite steps bound to it: its workflow's `post:` with the job's values, and the images it sent (a palette
may be taken from one), as the one-argument callable a file writer runs on each output (comfy/outputs.py).

Binding happens on the loop and costs nothing; reading a palette image and every step run on the file writer.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

from pixflow.comfy.outputs import PostProcess
from pixflow.errors import SpriteError
from pixflow.sprites import Pipeline, Result, run_pipeline
from pixflow.workflows import Workflow
from pixflow.workflows.params import GenerateParams


def job_steps(workflow: Workflow, params: GenerateParams) -> PostProcess | None:
    """None for a workflow without steps. Values refused now (a job stored before its workflow changed) give a
    callable that raises the refusal, so that the job fails with it, its generation kept."""
    images = params.images
    try:
        pipeline = workflow.pipeline_for(params.custom, params.sheet)
    except SpriteError as e:
        return functools.partial(_refused, e)
    if pipeline is None:
        return None
    files = {name: Path(image["file"]) for name, image in (images or {}).items() if "file" in image}
    return functools.partial(_run, pipeline, files)


def images_named(pipeline: Pipeline) -> set[str]:
    """The job images its steps read (a palette `image:NAME`)."""
    values = [value for step in pipeline.steps for value in step.params.values() if isinstance(value, str)]
    return {value.removeprefix("image:") for value in values if value.startswith("image:")}


def _run(pipeline: Pipeline, files: Mapping[str, Path], data: bytes) -> Result:
    try:
        images = {name: files[name].read_bytes() for name in images_named(pipeline) if name in files}
    except OSError as e:
        raise SpriteError("invalid_palette", f"the job's image for the palette cannot be read: {e}") from e
    return run_pipeline(pipeline, data, images=images)


def _refused(error: SpriteError, data: bytes) -> Result:
    raise error
