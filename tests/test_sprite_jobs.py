"""Sprite steps on a worker: run in step processes, a step's refusal fails the job with its code and keeps the
generation, a dead step process is replaced."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from pixflow.comfy.threads import StepProcesses
from pixflow.errors import SpriteError
from pixflow.sprites import Result, parse_pipeline, run_pipeline
from pixflow.testing import ThreadWorker
from tests.workflow_helpers import wait_done

SMALL = {"prompt": "pixel art knight", "size": [64, 64], "steps": 4, "workflow": "sprite"}


def _png(side: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def _die(data: bytes) -> Result:
    os._exit(3)  # what the OOM killer does to a step process


def _steps(data: bytes) -> Result:
    return run_pipeline(parse_pipeline(["grid", "cell"]), data)


def test_a_step_process_runs_the_steps_and_one_that_dies_is_replaced() -> None:
    processes = StepProcesses(1)
    try:
        assert processes.run(_steps, _png()).width > 0
        with pytest.raises(SpriteError) as caught:
            processes.run(_die, _png())
        assert caught.value.code == "steps_crashed"
        assert processes.run(_steps, _png()).width > 0  # a new process took its place
    finally:
        processes.stop()


def test_a_refusal_in_a_step_process_comes_back_with_its_code() -> None:
    processes = StepProcesses(1)
    try:
        with pytest.raises(SpriteError) as caught:
            processes.run(_steps, b"not an image")
        assert caught.value.code == "not_an_image" and caught.value.message
    finally:
        processes.stop()


def test_a_sprite_too_big_for_its_cell_fails_the_job_and_keeps_the_generation(worker: ThreadWorker) -> None:
    client = worker.client()
    params = {"grid": 16, "grid_mode": "override", "background": "none", "cell": "8x8"}
    client.call("generate", id="too-big", **SMALL, params=params)
    job = wait_done(client, "too-big")
    assert job["state"] == "failed" and job["error"]["code"] == "output_failed", job["error"]
    assert job["error"]["message"].startswith("sprite steps: does_not_fit: "), job["error"]
    raws = list(Path(worker.output_dir, "too-big").glob("too-big_00_raw.*"))
    assert len(raws) == 1 and Image.open(raws[0]).size == (64, 64)  # nothing lost: the generation is on disk
