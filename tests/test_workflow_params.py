"""Typed workflow parameters on the replay ComfyUI: types from /object_info, validation, list_workflows, LoRAs,
and workflows checked against each backend before any job is sent (docs/workflows.md)."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pixflow.client import ClientError
from pixflow.errors import WorkflowError
from pixflow.replay.models import STAND_IN_LORAS
from pixflow.testing import ThreadWorker, wait_for
from pixflow.workflows import load_workflow
from tests.helpers import REPO
from tests.workflow_helpers import TINY_LORA, UploadingReplay, by_name, sent_graph, sidecar, wait_done

GRID_TEXT = "Side of the sprite in cells when the image shows no clear pixel grid (grid_mode override forces it)"
KSAMPLER_SAMPLERS = "euler, euler_cfg_pp, euler_ancestral"  # the start of the fixture's KSampler list
SPRITE = {"prompt": "pixel art knight", "size": [64, 64], "steps": 8, "workflow": "sprite"}


@pytest.fixture
def lora_replay() -> Iterator[UploadingReplay]:
    server = UploadingReplay(loras=(TINY_LORA,)).start()
    yield server
    server.stop()


def _ready(running: ThreadWorker, backends: int = 1) -> Any:
    client = running.client()
    wait_for(
        lambda: (
            len(client.call("list_models")["backends"]) == backends
            and all(client.call("list_models")["backends"].values())
        ),
        what="every backend's /object_info",
    )
    return client


def _refused(client: Any, **fields: Any) -> str:
    with pytest.raises(ClientError) as caught:
        client.call("generate", **fields)
    assert caught.value.code == "invalid_params", caught.value
    return str(caught.value.message)


def test_list_workflows_types_every_parameter_from_object_info(worker: ThreadWorker) -> None:
    workflows = by_name(worker.client().call("list_workflows")["workflows"])
    sprite = workflows["sprite"]
    params = by_name(sprite["parameters"])
    # A parameter of a sprite step: typed by the step, the YAML's `type: INT` and range over its "WxH" string.
    assert params["grid"] == {
        "name": "grid",
        "source": "params",
        "kind": "INT",
        "default": 32,
        "description": GRID_TEXT,
        "min": 8,
        "max": 256,
        "step": None,
        "choices": None,
        "targets": [],
        "post": "grid.size",
    }
    assert (params["colors"]["min"], params["colors"]["max"], params["colors"]["default"]) == (2, 256, 16)
    assert params["dither"]["kind"] == "COMBO" and params["dither"]["choices"] == ["none", "ordered"]
    assert [step["step"] for step in sprite["post"]] == ["grid", "alpha", "palette", "outline", "cell"]
    # Generate fields, typed the same way and narrowed by pixflow's own limits.
    assert params["sampler"]["source"] == "field" and params["sampler"]["choices"][:3] == KSAMPLER_SAMPLERS.split(", ")
    assert (params["size"]["kind"], params["size"]["min"], params["size"]["max"], params["size"]["step"]) == (
        "SIZE",
        16,
        2048,
        8,
    )
    assert (params["steps"]["min"], params["steps"]["max"], params["steps"]["default"]) == (1, 150, 20)
    assert params["model"]["choices"] == ["tiny-sd15.safetensors"]
    assert sprite["backends"] == ["local"] and sprite["missing"] == {} and sprite["max_loras"] == 4
    # The older fields are still there.
    assert "prompt" in sprite["params"] and sprite["defaults"]["steps"] == 20
    img2img = workflows["sprite_img2img"]
    assert img2img["images"] == [
        {
            "name": "reference",
            "description": "The picture or sketch to start from (PNG, JPEG or WebP)",
            "required": True,
            "target": "12.image",
        }
    ]
    denoise = by_name(img2img["parameters"])["denoise"]  # a node input's: KSampler's 0..1 from /object_info
    assert (denoise["kind"], denoise["min"], denoise["max"], denoise["targets"], denoise["post"]) == (
        "FLOAT",
        0.0,
        1.0,
        ["3.denoise"],
        None,
    )
    assert workflows["txt2img"]["max_loras"] == 0 and workflows["txt2img"]["post"] == []
    # The replay offers the stand-in's LoRAs (pixflow/replay/models.py), the slot's default among them.
    lora = workflows["sprite_lora"]
    assert lora["backends"] == ["local"] and lora["missing"] == {}
    assert by_name(lora["parameters"])["lora"]["choices"] == list(STAND_IN_LORAS)


def test_a_custom_parameter_reaches_its_nodes_the_prompt_and_the_sidecar(worker: ThreadWorker, replay) -> None:
    client = worker.client()
    fields = {**SPRITE, "workflow": "sprite_img2img", "images": {"reference": _png()}}
    client.call("generate", id="denoise-1", **fields, params={"denoise": 0.45})
    job = wait_done(client, "denoise-1")
    assert job["state"] == "done" and job["params"]["params"] == {"denoise": 0.45}
    graph = sent_graph(replay, job["prompt_id"])
    assert graph["3"]["inputs"]["denoise"] == 0.45
    written = sidecar(worker.output_dir, "denoise-1")
    assert written["graph"] == graph and written["request"]["params"] == {"denoise": 0.45}


def test_a_step_parameter_reaches_the_sprite_steps_and_the_sidecar(worker: ThreadWorker, replay) -> None:
    client = worker.client()
    params = {"grid": 16, "colors": 4, "grid_mode": "override", "background": "none"}
    client.call("generate", id="grid-1", **SPRITE, params=params)
    job = wait_done(client, "grid-1")
    assert job["state"] == "done" and job["params"]["params"] == params
    (output,) = job["outputs"]
    assert (output["width"], output["height"]) == (16, 16) and len(output["palette"]) <= 4
    with Image.open(output["path"]) as sprite, Image.open(output["raw_path"]) as raw:
        assert sprite.size == (16, 16) and len(sprite.getcolors() or []) <= 4 and raw.size == (64, 64)
    written = sidecar(worker.output_dir, "grid-1")
    steps = {record["step"]: record for record in written["outputs"][0]["post"]}
    assert steps["grid"]["params"]["size"] == "16x16" and steps["grid"]["found"]["size"] == [16, 16]
    assert steps["palette"]["params"]["colors"] == 4 and steps["alpha"]["params"]["mode"] == "none"
    assert "10" not in sent_graph(replay, job["prompt_id"])  # no scaling in ComfyUI: the steps do it


def test_defaults_fill_parameters_a_job_leaves_out(worker: ThreadWorker, replay) -> None:
    client = worker.client()
    client.call("generate", id="grid-default", **SPRITE)
    job = wait_done(client, "grid-default")
    steps = {record["step"]: record for record in sidecar(worker.output_dir, "grid-default")["outputs"][0]["post"]}
    assert steps["grid"]["params"]["size"] == "32x32" and steps["palette"]["params"]["colors"] == 16
    assert "params" not in job["params"]  # nothing given: the snapshot's params are as before


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 40), (30, 90, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"grid": 300}, "'params.grid' must be between 8 and 256, got 300"),
        ({"grid": 4}, "'params.grid' must be between 8 and 256, got 4"),
        ({"grid": "big"}, "'params.grid' must be an integer, got 'big'"),
        ({"grid": True}, "'params.grid' must be an integer, got True"),
        ({"colors": 1}, "'params.colors' must be between 2 and 256, got 1"),
        ({"dither": "lots"}, "'params.dither' must be one of: none, ordered; got 'lots'"),
        ({"palette": "no-such"}, "'params.palette': "),
        ({"cell": "4by4"}, "'params.cell': "),
        (
            {"denoise": 0.5},
            "workflow 'sprite' has no parameter 'denoise' in 'params'; its parameters: anchor, background",
        ),
    ],
)
def test_a_bad_custom_parameter_is_refused_with_what_is_allowed(worker, params, expected) -> None:
    message = _refused(worker.client(), **SPRITE, params=params)
    assert message.startswith(expected), message


def test_generate_fields_are_checked_against_the_inputs_they_fill(worker: ThreadWorker) -> None:
    client = worker.client()
    message = _refused(client, **SPRITE, sampler="euler_fancy")
    assert message.startswith(f"'sampler' must be one of: {KSAMPLER_SAMPLERS}") and "got 'euler_fancy'" in message
    assert "'scheduler' must be one of: " in _refused(client, **SPRITE, scheduler="sometimes")
    assert (
        _refused(client, **{**SPRITE, "steps": 151}, params={"grid": 16})
        == "'steps' must be between 1 and 150, got 151"
    )
    with pytest.raises(ClientError, match="'params' maps names to strings, numbers or booleans"):
        client.call("generate", **SPRITE, params={"grid": [1, 2]})


def test_loras_are_chained_after_the_checkpoint_loader(lora_replay, start_worker) -> None:
    client = _ready(start_worker(lora_replay.url))
    client.call("generate", id="lora-1", **SPRITE, loras=[{"name": TINY_LORA, "strength": 0.5}])
    job = wait_done(client, "lora-1")
    assert job["state"] == "done" and job["params"]["loras"] == [{"name": TINY_LORA, "strength": 0.5}]
    graph = sent_graph(lora_replay, job["prompt_id"])
    added = [node_id for node_id, node in graph.items() if node["class_type"] == "LoraLoader"]
    assert added == ["10"]  # the next free numeric id
    lora = graph["10"]["inputs"]
    assert lora == {
        "lora_name": TINY_LORA,
        "strength_model": 0.5,
        "strength_clip": 0.5,
        "model": ["4", 0],
        "clip": ["4", 1],
    }
    assert graph["3"]["inputs"]["model"] == ["10", 0]  # the sampler now takes the patched model
    assert graph["6"]["inputs"]["clip"] == graph["7"]["inputs"]["clip"] == ["10", 1]
    assert graph["8"]["inputs"]["vae"] == ["4", 2]  # the VAE still comes from the checkpoint


def test_loras_that_no_backend_has_or_that_a_workflow_does_not_take_are_refused(lora_replay, start_worker) -> None:
    client = _ready(start_worker(lora_replay.url))
    message = _refused(client, **SPRITE, loras=[{"name": "missing.safetensors", "strength": 1}])
    assert message == f"'loras[0].name': no backend has the LoRA 'missing.safetensors'; available: {TINY_LORA}"
    assert _refused(client, **SPRITE, loras=[{"name": TINY_LORA, "strength": 500}]).startswith(
        "'loras[0].strength' must be between -100 and 100"
    )
    assert "takes no 'loras'" in _refused(client, prompt="x", workflow="txt2img", loras=[{"name": TINY_LORA}])
    assert "takes at most 4" in _refused(client, **SPRITE, loras=[{"name": TINY_LORA}] * 5)


def test_a_lora_job_goes_only_to_the_backend_that_has_the_lora(lora_replay, start_worker) -> None:
    plain = UploadingReplay().start()
    try:
        backends = [{"name": "plain", "url": plain.url}, {"name": "styled", "url": lora_replay.url}]
        client = _ready(start_worker("", backends=backends), backends=2)
        sprite_lora = by_name(client.call("list_workflows")["workflows"])["sprite_lora"]
        assert sprite_lora["missing"] == {"plain": [f"default LoRA {TINY_LORA}"]}
        assert by_name(sprite_lora["parameters"])["lora"]["choices"] == [TINY_LORA]  # what any backend offers
        for index in range(3):
            client.call("generate", id=f"styled-{index}", **SPRITE, loras=[{"name": TINY_LORA, "strength": 1.0}])
        client.call("generate", id="declared", **{**SPRITE, "workflow": "sprite_lora"}, params={"lora": TINY_LORA})
        for job_id in ("styled-0", "styled-1", "styled-2", "declared"):
            job = wait_done(client, job_id)
            assert (job["state"], job["backend"]) == ("done", "styled"), job
    finally:
        plain.stop()


@pytest.fixture
def odd_workflows(tmp_path: Path) -> Path:
    """The shipped workflows plus `alien`: txt2img with a node type no ComfyUI has."""
    directory = tmp_path / "workflows"
    shutil.copytree(REPO / "workflows", directory)
    graph = json.loads((directory / "txt2img.json").read_text())
    graph["8"]["class_type"] = "AlienDecode"
    (directory / "alien.json").write_text(json.dumps(graph))
    (directory / "alien.yaml").write_text(
        'description: an unknown node\ngraph: alien.json\nparams: {prompt: ["6.text"]}\n'
    )
    return directory


def test_a_workflow_no_backend_can_run_is_reported_and_refused(replay, start_worker, odd_workflows) -> None:
    client = _ready(start_worker(replay.url, workflows_dir=odd_workflows))
    alien = by_name(client.call("list_workflows")["workflows"])["alien"]
    assert alien["backends"] == [] and alien["missing"] == {"local": ["node type AlienDecode"]}
    message = _refused(client, prompt="x", workflow="alien")
    assert message == "no backend can run workflow 'alien': local lacks node type AlienDecode"


def test_pixflow_workflows_check_says_what_each_backend_lacks(replay, start_worker, odd_workflows, capsys) -> None:
    from pixflow.cli.main import main

    running = start_worker(replay.url, workflows_dir=odd_workflows)
    _ready(running)
    code = main(["workflows", "--check", "--req-addr", running.req, "--pub-addr", running.pub])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "alien: an unknown node [runs on: no backend]" in out and "  local lacks: node type AlienDecode" in out
    assert "  --param grid=32  INT 8..256  Side of the sprite in cells" in out
    assert "  --image reference=PATH  The picture or sketch" in out
    assert out.rstrip().endswith("no backend can run: alien")


def test_submit_passes_params_and_loras(lora_replay, start_worker, capsys) -> None:
    from pixflow.cli.main import main

    running = start_worker(lora_replay.url)
    client = _ready(running)
    args = ["submit", "knight", "--id", "cli-1", "--workflow", "sprite", "--size", "64x64", "--steps", "8"]
    args += ["--param", "grid=24", "--param", "dither=ordered", "--lora", f"{TINY_LORA}:0.25"]
    assert main([*args, "--req-addr", running.req, "--pub-addr", running.pub]) == 0
    job = wait_done(client, "cli-1")
    assert job["params"]["params"] == {"grid": 24, "dither": "ordered"}
    assert job["params"]["loras"] == [{"name": TINY_LORA, "strength": 0.25}]


def _write(directory: Path, custom: str) -> Path:
    shutil.copy(REPO / "workflows" / "sprite.json", directory / "w.json")
    (directory / "w.yaml").write_text(f"graph: w.json\nparams: {{prompt: ['6.text']}}\n{custom}")
    return directory / "w.yaml"


@pytest.mark.parametrize(
    ("custom", "error"),
    [
        ("custom: {steps: {targets: ['3.steps']}}", "names are a-z, 0-9, _ and not a generate field"),
        ("custom: {grid: {targets: ['3.model']}}", "is a link to another node, not a value"),
        ("custom: {grid: {targets: ['5.nope']}}", "has no input 'nope'"),
        ("custom: {grid: {targets: ['5.width'], minimum: 3}}", "unknown keys ['minimum']"),
        ("custom: {grid: {targets: ['5.width'], type: INTEGER}}", "type 'INTEGER' is not one of"),
        ("post: [{blur: {}}]", "post: "),
        ("post: [grid, grid]", "post: "),
        ("post: [{palette: {colors: 1}}]", "post: "),
        ("post: [grid]\ncustom: {c: {post: palette.colors}}", "the workflow's post: has no such step"),
        ("post: [grid]\ncustom: {c: {post: grid.nope}}", "is no step parameter"),
        ("post: [grid]\ncustom: {c: {post: grid.size, targets: ['5.width']}}", "unknown keys ['targets'] beside post"),
        ("post: [grid]\ncustom: {c: {post: grid.size, default: huge}}", "default: "),
        ("loras: {loader: '99'}", "loras: node '99' is not in the graph"),
        ("loras: {max: 0}", "max must be a whole number from 1 to 8"),
        ("images: {ref: {target: '77.image'}}", "node '77' is not in the graph"),
    ],
)
def test_a_workflow_that_declares_nonsense_does_not_load(tmp_path: Path, custom: str, error: str) -> None:
    with pytest.raises(WorkflowError, match=error.replace("[", r"\[").replace("]", r"\]")):
        load_workflow(_write(tmp_path, custom))


def test_every_shipped_workflow_loads_and_fills(start_worker: Callable[..., ThreadWorker]) -> None:
    for path in sorted((REPO / "workflows").glob("*.yaml")):
        workflow = load_workflow(path)
        assert workflow.description, path


def test_the_workflows_vector_lists_its_fields_in_the_workers_order(worker: ThreadWorker) -> None:
    """A typed client re-encodes a reply byte for byte only if its struct follows the worker's key order."""
    vectors = json.loads((REPO / "docs" / "protocol-vectors.json").read_text())["vectors"]
    (vector,) = [v for v in vectors if v["name"].startswith("workflows reply, typed parameters")]
    entry = vector["message"]["workflows"][0]
    real = by_name(worker.client().call("list_workflows")["workflows"])["sprite_img2img"]
    assert list(entry) == list(real)
    assert all(list(param) == list(real["parameters"][0]) for param in entry["parameters"])
    assert list(entry["images"][0]) == list(real["images"][0])
    (generate,) = [v["message"] for v in vectors if v["name"].startswith("generate request, workflow parameters")]
    assert list(generate)[-3:] == ["params", "images", "loras"]  # after every older field
