"""Validation of `generate` fields, and filling workflows with them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pixflow.errors import ErrorCode, RequestError, WorkflowError
from pixflow.workflows import load_workflow, load_workflows
from pixflow.workflows.params import GenerateParams, parse_generate, parse_job_id
from pixflow.workflows.schema import check_value

WORKFLOWS_DIR = Path(__file__).resolve().parent.parent / "workflows"
BASE = {"prompt": "pixel art knight", "model": "tiny-sd15.safetensors", "size": [64, 64], "steps": 8, "cfg_scale": 7.0}


def test_the_rust_clients_fields_are_accepted():
    params = parse_generate(BASE, random.Random(1))
    assert (params.width, params.height, params.steps, params.cfg_scale) == (64, 64, 8, 7.0)
    assert 0 <= params.seed < 2**32  # drawn, so it can be recorded


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"prompt": None}, "'prompt' is required"),
        ({"prompt": ""}, "'prompt' is required"),
        ({"prompt": 42}, "'prompt' is required"),
        ({"prompt": "x" * 100_000}, "limit is 10000"),
        ({"negative_prompt": "x" * 10_001}, "limit is 10000"),
        ({"steps": 0}, "'steps' must be between 1 and 150"),
        ({"steps": 151}, "'steps' must be between 1 and 150"),
        ({"steps": "8"}, "'steps' must be an integer"),
        ({"steps": 8.5}, "'steps' must be an integer"),
        ({"steps": True}, "'steps' must be an integer, got a boolean"),
        ({"size": [65, 64]}, "multiples of 8"),
        ({"size": [64, 2056]}, "multiples of 8 between 16 and 2048"),
        ({"size": [4096, 64]}, "between 16 and 2048"),
        ({"size": [64]}, "list of two integers"),
        ({"size": "64x64"}, "list of two integers"),
        ({"size": [64.0, 64]}, "two integers"),
        ({"cfg_scale": -1}, "'cfg_scale' must be between 0 and 100"),
        ({"cfg_scale": "high"}, "'cfg_scale' must be an integer or a number"),
        ({"seed": -5}, "'seed' must be between 0 and 18446744073709551615, got -5"),
        ({"batch_size": 0}, "'batch_size' must be between 1 and 64"),
        ({"priority": 5000}, "'priority' must be between"),
        ({"previews": "yes"}, "'previews' must be a boolean"),
        ({"model": 7}, "'model' must be a string"),
    ],
)
def test_bad_fields_are_invalid_params(change, fragment):
    message = {**BASE, **change}
    if change.get("prompt", "") is None:
        del message["prompt"]
    with pytest.raises(RequestError) as info:
        parse_generate(message)
    assert info.value.code == ErrorCode.INVALID_PARAMS
    assert fragment in info.value.message


@pytest.mark.parametrize("job_id", ["", "-leading-dash", "has space", "x" * 129, "slash/no"])
def test_bad_job_ids(job_id):
    with pytest.raises(RequestError):
        parse_job_id({"id": job_id})


def test_parameters_land_in_their_nodes():
    workflow = load_workflows(WORKFLOWS_DIR)["txt2img"]
    params = GenerateParams(
        prompt="wizard",
        negative_prompt="blur",
        model="other.safetensors",
        width=96,
        height=128,
        steps=12,
        cfg_scale=4.5,
        seed=99,
        sampler="dpmpp_2m",
        scheduler="karras",
        batch_size=4,
    )
    graph = workflow.fill(params)
    assert graph["6"]["inputs"]["text"] == "wizard"
    assert graph["7"]["inputs"]["text"] == "blur"
    assert graph["4"]["inputs"]["ckpt_name"] == "other.safetensors"
    assert graph["5"]["inputs"] == {"width": 96, "height": 128, "batch_size": 4}
    assert {k: graph["3"]["inputs"][k] for k in ("seed", "steps", "cfg", "sampler_name", "scheduler")} == {
        "seed": 99,
        "steps": 12,
        "cfg": 4.5,
        "sampler_name": "dpmpp_2m",
        "scheduler": "karras",
    }
    assert graph["3"]["inputs"]["model"] == ["4", 0]  # links untouched
    assert workflow.graph["6"]["inputs"]["text"] != "wizard"  # the template is not modified


def test_no_model_keeps_the_workflows_own_and_two_pass_gets_both_samplers():
    workflow = load_workflows(WORKFLOWS_DIR)["txt2img_2pass"]
    graph = workflow.fill(GenerateParams(prompt="p", seed=7, steps=5))
    assert graph["4"]["inputs"]["ckpt_name"] == "tiny-sd15.safetensors"
    assert graph["3"]["inputs"]["seed"] == graph["11"]["inputs"]["seed"] == 7
    assert graph["3"]["inputs"]["steps"] == graph["11"]["inputs"]["steps"] == 5


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"params": {"prompt": ["99.text"]}}, "node '99' is not in the graph"),
        ({"params": {"prompt": ["6.nope"]}}, "has no input 'nope'"),
        ({"params": {"prompt": ["6text"]}}, "must be 'node_id.input'"),
        ({"params": {"colour": ["6.text"]}}, "unknown param 'colour'"),
        ({"stages": {"KSampler": "cooking"}}, "stage 'cooking'"),
    ],
)
def test_broken_workflow_specs_are_reported(tmp_path, spec, fragment):
    import yaml

    (tmp_path / "wf.json").write_text((WORKFLOWS_DIR / "txt2img.json").read_text())
    (tmp_path / "wf.yaml").write_text(yaml.safe_dump({"graph": "wf.json", **spec}))
    with pytest.raises(WorkflowError, match=fragment):
        load_workflow(tmp_path / "wf.yaml")


def test_a_graph_that_is_not_api_format_is_refused(tmp_path):
    (tmp_path / "ui.json").write_text(json.dumps({"nodes": [], "links": []}))
    (tmp_path / "ui.yaml").write_text("graph: ui.json\n")
    with pytest.raises(WorkflowError, match="not an API-format graph"):
        load_workflow(tmp_path / "ui.yaml")


@pytest.mark.parametrize(
    ("kind", "value", "low", "high", "step", "expected"),
    [
        ("INT", -1, 0, 0xFFFFFFFFFFFFFFFF, None, "'x' must be between 0 and 18446744073709551615, got -1"),
        ("INT", 2**70, 0.0, 1.8446744073709552e19, None, "'x' must be between 0 and 1.8446744073709552e+19"),
        ("FLOAT", 101, 0.0, 100.0, None, "'x' must be between 0 and 100, got 101.0"),
        ("FLOAT", 0.001, 0.01, None, None, "'x' must be at least 0.01, got 0.001"),
        ("FLOAT", 3.0, None, 2.5, None, "'x' must be at most 2.5, got 3.0"),
        ("INT", 9, 8.0, 256.0, 8.0, "'x' must be 8 plus a multiple of 8, got 9"),
    ],
)
def test_limits_print_as_a_person_writes_them(kind, value, low, high, step, expected):
    """Integer limits exactly (never 1.84467e+19), integral floats without `.0`, other floats as they are."""
    with pytest.raises(RequestError) as info:
        check_value("'x'", value, kind, low, high, step)
    assert info.value.message.startswith(expected), info.value.message
