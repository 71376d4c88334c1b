"""The replay server's images: each workflow's outputs have the size its graph asks for and look like a picture
(pixflow/replay/image_plan.py, pictures.py, run_images.py), and the recorded event streams stay as recorded."""

from __future__ import annotations

import copy
import io
import json
import struct
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket
from PIL import Image

from pixflow.replay.image_plan import MAX_SIDE, output_plans
from pixflow.replay.server import ReplayServer
from pixflow.testing import ThreadWorker
from tests.helpers import FIXTURES, REPO, run_job, states_of

WORKFLOWS = REPO / "workflows"
EXACT = {"grid_mode": "override", "background": "none"}  # the sprite steps give the given grid, every cell kept


def _graph(name: str) -> dict[str, Any]:
    graph: dict[str, Any] = json.loads((WORKFLOWS / f"{name}.json").read_text())
    return graph


def _scaled_sprite() -> dict[str, Any]:
    """The sprite graph with ComfyUI's own pixel steps after decoding (ImageScale nearest-exact to 32x32, then
    ImageQuantize), as graphs built in ComfyUI have them: the plan follows both."""
    graph = _graph("sprite")
    graph["10"] = {
        "class_type": "ImageScale",
        "inputs": {"image": ["8", 0], "upscale_method": "nearest-exact", "width": 32, "height": 32, "crop": "disabled"},
    }
    graph["11"] = {"class_type": "ImageQuantize", "inputs": {"image": ["10", 0], "colors": 16, "dither": "none"}}
    graph["9"]["inputs"]["images"] = ["11", 0]
    return graph


def _picture(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def _colours(picture: Image.Image) -> int:
    return len(picture.convert("RGB").getcolors(1 << 24) or [])


@pytest.mark.parametrize(
    ("workflow", "size"),
    [("txt2img", (64, 64)), ("txt2img_2pass", (128, 128)), ("sprite", (512, 512)), ("sprite_img2img", (512, 512))],
)
def test_the_plan_of_each_shipped_workflow_has_the_size_of_its_graph(workflow: str, size: tuple[int, int]) -> None:
    plans = output_plans(_graph(workflow))
    assert list(plans) == ["9"] and plans["9"].size == size  # sprites are saved at the generation's size
    assert output_plans(_scaled_sprite())["9"].size == (32, 32)


def test_the_plan_follows_zero_sides_batches_and_unreadable_links() -> None:
    graph = _scaled_sprite()
    graph["5"]["inputs"].update(width=256, height=128, batch_size=3)
    graph["10"]["inputs"].update(width=64, height=0)  # 0: keep the aspect ratio, as ComfyUI does
    plan = output_plans(graph)["9"]
    assert plan.size == (64, 32) and plan.batch == 3
    graph["8"]["inputs"]["samples"] = ["99", 0]  # a link to no node: nothing to draw from
    assert output_plans(graph) == {}


@pytest.mark.parametrize(
    ("node", "inputs"),
    [
        ("5", {"width": 10**400, "height": float("nan"), "batch_size": "many"}),
        ("10", {"width": -5, "height": 1e300}),
        ("11", {"colors": 10**12}),
        ("8", {"samples": ["8", 0]}),  # a loop
        ("3", {"latent_image": "not a link", "seed": None}),
    ],
)
def test_odd_values_in_a_graph_give_a_bounded_plan_or_none(node: str, inputs: dict[str, Any]) -> None:
    graph = _scaled_sprite()
    graph[node]["inputs"].update(inputs)
    for plan in output_plans(graph).values():
        width, height = plan.size
        assert 1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE and plan.batch >= 1


def _run_through_worker(client: Any, job_id: str, workflow: str, seed: int, **fields: Any) -> Image.Image:
    events = run_job(client, job_id, workflow=workflow, seed=seed, **fields)
    assert states_of(events)[-1] == "done", events[-1]
    (output,) = events[-1][1]["outputs"]
    return _picture(Path(output["path"]).read_bytes())


@pytest.mark.parametrize(
    ("workflow", "fields", "size"),
    [
        ("txt2img", {"size": [96, 64]}, (96, 64)),
        ("txt2img_2pass", {"size": [64, 64]}, (128, 128)),
        ("sprite", {"size": [64, 64], "params": {"grid": 32, "colors": 12, **EXACT}}, (32, 32)),
    ],
)
def test_a_job_saves_an_image_of_the_workflow_size_drawn_from_its_seed(
    worker: ThreadWorker, workflow: str, fields: dict[str, Any], size: tuple[int, int]
) -> None:
    client = worker.client()
    first = _run_through_worker(client, f"{workflow}-a", workflow, 7, **fields)
    again = _run_through_worker(client, f"{workflow}-b", workflow, 7, **fields)
    other = _run_through_worker(client, f"{workflow}-c", workflow, 8, **fields)
    assert first.size == again.size == other.size == size
    assert _colours(first) > 1 and _colours(other) > 1  # a picture, not a flat fill (the recorded files are black)
    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != other.tobytes()
    if workflow == "sprite":
        assert _colours(first) <= 12  # the palette step: an adaptive palette of `colors`, no dithering


class _Comfy:
    """A client of the replay's own ComfyUI API: one WebSocket, prompts posted one at a time."""

    def __init__(self, server: ReplayServer, client_id: str = "images") -> None:
        self.url, self.client_id = server.url, client_id
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws?clientId={client_id}", timeout=5)

    def run(self, graph: dict[str, Any], prompt_id: str) -> tuple[list[dict[str, Any]], list[bytes]]:
        """Post the graph; the text events of that prompt and the binary frames, up to its final `executing`."""
        body = {"prompt": graph, "client_id": self.client_id, "prompt_id": prompt_id}
        assert requests.post(f"{self.url}/prompt", json=body, timeout=5).status_code == 200
        events: list[dict[str, Any]] = []
        frames: list[bytes] = []
        while True:
            message = self.ws.recv()
            if isinstance(message, bytes):
                frames.append(message)
                continue
            event = json.loads(message)
            if (event.get("data") or {}).get("prompt_id") == prompt_id:
                events.append(event)
                if event["type"] == "executing" and event["data"]["node"] is None:
                    return events, frames

    def outputs(self, prompt_id: str) -> list[dict[str, str]]:
        entry = requests.get(f"{self.url}/history/{prompt_id}", timeout=5).json()[prompt_id]
        return [image for node in entry["outputs"].values() for image in node["images"]]

    def view(self, image: dict[str, str]) -> bytes:
        answer = requests.get(f"{self.url}/view", params=image, timeout=5)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/png"
        return answer.content

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def comfy(replay: ReplayServer) -> Any:
    client = _Comfy(replay)
    yield client
    client.close()


def _recorded_types(replay: ReplayServer, name: str) -> list[str]:
    recording = replay.recordings[name]
    types = [json.loads(frame.text)["type"] for frame in recording.frames if frame.text is not None]
    return [kind for kind in types if kind != "status"]  # broadcasts: not addressed to the prompt


def test_each_image_of_a_batch_is_a_file_of_its_own_named_as_save_image_does(replay, comfy) -> None:
    graph = _graph("txt2img")
    graph["5"]["inputs"].update(width=80, height=48, batch_size=3)
    graph["9"]["inputs"]["filename_prefix"] = "mine/knight"
    events, _ = comfy.run(graph, "batch-1")
    assert [event["type"] for event in events] == _recorded_types(replay, "fresh")  # the stream as recorded
    images = comfy.outputs("batch-1")
    (executed,) = [event for event in events if event["type"] == "executed"]
    assert executed["data"]["output"]["images"] == images
    assert [(image["subfolder"], image["filename"]) for image in images] == [
        ("mine", f"knight_{n:05}_.png") for n in (1, 2, 3)
    ]
    pictures = [_picture(comfy.view(image)) for image in images]
    assert {picture.size for picture in pictures} == {(80, 48)}
    assert len({picture.tobytes() for picture in pictures}) == 3  # each batch entry is its own picture
    _, _ = comfy.run(graph, "batch-2")
    assert [image["filename"] for image in comfy.outputs("batch-2")] == [f"knight_{n:05}_.png" for n in (4, 5, 6)]


def test_a_cached_output_keeps_the_recorded_name_with_this_prompts_picture(replay, comfy) -> None:
    replay.call(lambda state: state.playlist.append("cached_all"))
    graph = _scaled_sprite()
    events, _ = comfy.run(graph, "cached-1")
    assert [event["type"] for event in events] == _recorded_types(replay, "cached_all")
    (image,) = comfy.outputs("cached-1")
    assert image["filename"] == "pixflow_00001_.png"  # the earlier run's file, as ComfyUI names it
    picture = _picture(comfy.view(image))
    assert picture.size == (32, 32) and _colours(picture) > 1


def test_a_graph_that_cannot_be_read_gets_the_recorded_files(replay, comfy) -> None:
    comfy.run({}, "unreadable-1")
    (image,) = comfy.outputs("unreadable-1")
    assert image["filename"] == "pixflow_00001_.png"
    assert comfy.view(image) == (FIXTURES / "output" / "pixflow_00001_.png").read_bytes()


def _preview_images(frames: list[bytes]) -> list[bytes]:
    previews = []
    for frame in frames:
        kind, image_format = struct.unpack_from(">II", frame, 0)
        assert (kind, image_format) == (1, 1)  # type 1, JPEG: as recorded, for a client that did not opt in
        previews.append(frame[8:])
    return previews


def test_previews_show_the_prompts_picture_out_of_noise_and_keep_their_recorded_place(replay, comfy) -> None:
    graph = _graph("txt2img")
    _, frames = comfy.run(graph, "preview-1")
    previews = _preview_images(frames)
    recorded = [frame.binary[8:] for frame in replay.recordings["fresh"].frames if frame.binary is not None]
    assert len(previews) == len(recorded) == 8
    assert not set(previews) & set(recorded) and len(set(previews)) == 8  # drawn afresh, one per step
    assert {_picture(image).size for image in previews} == {(512, 512)}  # ComfyUI's preview size
    _, again = comfy.run(copy.deepcopy(graph), "preview-2")
    assert _preview_images(again) == previews  # same prompt and seed, same previews
    graph["3"]["inputs"]["seed"] = 43
    _, other = comfy.run(graph, "preview-3")
    assert _preview_images(other)[-1] != previews[-1]
