"""The shipped workflows on a real ComfyUI: typed parameters, an uploaded image, LoRAs, the sprite steps.

The session's ComfyUI has the tiny checkpoint and a tiny LoRA made for it (e2e/make_lora.py).
"""

from __future__ import annotations

import hashlib
import io
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pixflow.client import ClientError
from tests.e2e.e2e_helpers import run_job, sidecar_of, states_of, unique_prompt

TINY_LORA = "tiny-lora.safetensors"
BASE = {"size": [64, 64], "steps": 4, "seed": 7001}


def _done(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    assert states_of(events)[-1] == "done", events[-1]
    return events[-1][1]


def _image(output: dict[str, Any]) -> Image.Image:
    return Image.open(Path(output["path"])).convert("RGB")


def _colours(image: Image.Image) -> int:
    return len(image.getcolors(maxcolors=1 << 16) or [])


def _by_name(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in entries}


# The tiny model's images show no pixel grid: the sprite's size is the given one (override, to be sure of it), and
# with the background kept every cell is there.
EXACT = {"grid_mode": "override", "background": "none"}


def test_the_sprite_workflow_saves_the_grid_size_with_at_most_colors_colours(e2e_worker):
    client = e2e_worker().client()
    params = {"grid": 16, "colors": 4, **EXACT}
    events = run_job(client, "sprite-1", workflow="sprite", prompt=unique_prompt("sprite"), params=params, **BASE)
    done = _done(events)
    assert len(done["outputs"]) == 1
    output = done["outputs"][0]
    image = _image(output)
    assert image.size == (16, 16) and (output["width"], output["height"]) == (16, 16)
    assert 1 <= _colours(image) <= 4 and len(output["palette"]) <= 4
    with Image.open(output["raw_path"]) as raw:
        assert raw.size == (64, 64)  # the generation as ComfyUI made it, kept beside the sprite
    sidecar = sidecar_of(output, "sprite-1")
    assert sidecar["request"]["params"] == params
    (entry,) = sidecar["outputs"]
    assert [record["step"] for record in entry["post"]] == ["grid", "alpha", "palette", "outline", "cell"]
    assert entry["post"][0]["found"]["size"] == [16, 16] and entry["post"][2]["params"]["colors"] == 4


def test_parameters_are_typed_from_the_real_object_info_and_a_bad_one_is_refused(e2e_worker):
    client = e2e_worker().client()
    workflows = _by_name(client.call("list_workflows")["workflows"])
    sprite = _by_name(workflows["sprite"]["parameters"])
    assert (sprite["colors"]["kind"], sprite["colors"]["min"], sprite["colors"]["max"]) == ("INT", 2, 256)
    assert sprite["dither"]["choices"] == ["none", "ordered"] and "euler" in sprite["sampler"]["choices"]
    assert sprite["colors"]["post"] == "palette.colors" and sprite["colors"]["targets"] == []
    assert _by_name(workflows["sprite_lora"]["parameters"])["lora"]["choices"] == [TINY_LORA]
    for name in ("sprite", "sprite_img2img", "sprite_lora", "txt2img"):
        assert workflows[name]["missing"] == {} and workflows[name]["backends"] == ["local"], workflows[name]
    with pytest.raises(ClientError) as caught:
        client.call("generate", prompt="x", workflow="sprite", params={"colors": 300}, **BASE)
    assert caught.value.code == "invalid_params"
    assert caught.value.message == "'params.colors' must be between 2 and 256, got 300"


def test_img2img_runs_on_an_uploaded_image_and_the_sidecar_holds_its_hash(e2e_worker, comfyui_url):
    client = e2e_worker().client()
    buffer = io.BytesIO()
    Image.new("RGB", (48, 40), (30, 90, 200)).save(buffer, format="PNG")
    reference = buffer.getvalue()
    events = run_job(
        client,
        "img2img-1",
        workflow="sprite_img2img",
        prompt=unique_prompt("img2img"),
        images={"reference": reference},
        params={"denoise": 0.5, "grid": 24, "colors": 8, **EXACT},
        **BASE,
    )
    done = _done(events)
    assert _image(done["outputs"][0]).size == (24, 24)
    sidecar = sidecar_of(done["outputs"][0], "img2img-1")
    digest = hashlib.sha256(reference).hexdigest()
    assert sidecar["input_images"] == {"reference": digest}
    name = sidecar["graph"]["12"]["inputs"]["image"]
    assert name == sidecar["request"]["images"]["reference"]["comfy_name"] and name.startswith("pixflow/")
    subfolder, filename = name.split("/")
    query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": "input"})
    with urllib.request.urlopen(f"{comfyui_url}/view?{query}", timeout=10) as reply:
        assert hashlib.sha256(reply.read()).hexdigest() == digest  # ComfyUI has exactly the bytes sent


def test_a_lora_job_runs_with_the_tiny_lora_and_a_missing_lora_is_refused(e2e_worker):
    client = e2e_worker().client()
    loras = [{"name": TINY_LORA, "strength": 0.7}]
    events = run_job(client, "lora-1", workflow="sprite", prompt=unique_prompt("lora"), loras=loras, **BASE)
    done = _done(events)
    graph = sidecar_of(done["outputs"][0], "lora-1")["graph"]
    (lora_id,) = [node_id for node_id, node in graph.items() if node["class_type"] == "LoraLoader"]
    assert graph[lora_id]["inputs"]["lora_name"] == TINY_LORA and graph[lora_id]["inputs"]["strength_model"] == 0.7
    assert graph["3"]["inputs"]["model"] == [lora_id, 0] and graph["6"]["inputs"]["clip"] == [lora_id, 1]
    with pytest.raises(ClientError) as caught:
        client.call("generate", prompt="x", workflow="sprite", loras=[{"name": "nope.safetensors"}], **BASE)
    assert (
        caught.value.message == f"'loras[0].name': no backend has the LoRA 'nope.safetensors'; available: {TINY_LORA}"
    )


def test_the_lora_example_workflow_runs_its_declared_slot(e2e_worker):
    client = e2e_worker().client()
    params = {"lora": TINY_LORA, "lora_strength": 1.5, "grid": 8, **EXACT}
    events = run_job(client, "lora-slot", workflow="sprite_lora", prompt=unique_prompt("slot"), params=params, **BASE)
    done = _done(events)
    assert _image(done["outputs"][0]).size == (8, 8)
    graph = sidecar_of(done["outputs"][0], "lora-slot")["graph"]
    assert graph["20"]["inputs"]["strength_model"] == graph["20"]["inputs"]["strength_clip"] == 1.5
