"""Input images on the replay ComfyUI: checked, kept with the job, uploaded just before the prompt under a name
of the job's own, uploaded again whenever the prompt is sent again (also after a worker restart), and hashed in
the sidecar."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixflow.client import ClientError
from pixflow.testing import ServeProcess, ThreadWorker, wait_for
from tests.workflow_helpers import UploadingReplay, png, sent_graph, sidecar, wait_done

IMG2IMG = {"prompt": "pixel art knight", "size": [64, 64], "steps": 8, "workflow": "sprite_img2img"}


@pytest.fixture
def uploads_replay() -> Iterator[UploadingReplay]:
    server = UploadingReplay().start()
    yield server
    server.stop()


@pytest.fixture
def image_worker(uploads_replay: UploadingReplay, start_worker) -> ThreadWorker:
    running: ThreadWorker = start_worker(uploads_replay.url, max_image_bytes=20_000, max_image_side=512)
    client = running.client()
    wait_for(lambda: client.call("list_models")["models"], what="the worker to read /object_info")
    return running


def test_img2img_uploads_the_image_before_the_prompt_and_hashes_it_in_the_sidecar(image_worker, uploads_replay):
    client = image_worker.client()
    image = png(40, 24)
    client.call("generate", id="ref-1", **IMG2IMG, images={"reference": image}, params={"denoise": 0.4})
    job = wait_done(client, "ref-1")
    assert job["state"] == "done", job
    digest = hashlib.sha256(image).hexdigest()
    described = job["params"]["images"]["reference"]
    assert {k: described[k] for k in ("sha256", "format", "width", "height", "bytes")} == {
        "sha256": digest,
        "format": "png",
        "width": 40,
        "height": 24,
        "bytes": len(image),
    }
    name = described["comfy_name"]
    assert name.startswith("pixflow/") and name.endswith("-reference.png")
    assert uploads_replay.uploads == {name: [image]}  # uploaded once, the bytes as sent
    graph = sent_graph(uploads_replay, job["prompt_id"])
    assert graph["12"]["inputs"]["image"] == name and graph["3"]["inputs"]["denoise"] == 0.4
    written = sidecar(image_worker.output_dir, "ref-1")
    assert written["input_images"] == {"reference": digest} and written["graph"] == graph
    kept = Path(described["file"])
    assert kept == (image_worker.output_dir / "ref-1" / "inputs" / "reference.png").resolve()
    assert kept.read_bytes() == image


def test_two_jobs_upload_under_names_of_their_own(image_worker, uploads_replay):
    client = image_worker.client()
    for job_id in ("ref-a", "ref-b"):
        client.call("generate", id=job_id, **IMG2IMG, images={"reference": png(colour=(0, 0, 255))})
    names = {wait_done(client, j)["params"]["images"]["reference"]["comfy_name"] for j in ("ref-a", "ref-b")}
    assert len(names) == 2 and set(uploads_replay.uploads) == names


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        (None, "'images.reference' is required by workflow 'sprite_img2img': The picture or sketch"),
        ({"reference": "not bytes"}, "'images.reference' must be the image's bytes (msgpack bin), got str"),
        ({"reference": b"GIF89a nonsense"}, "'images.reference' is not an image this worker can read"),
        ({"reference": png(kind="GIF")}, "'images.reference' is gif; allowed: png, jpeg, webp"),
        ({"reference": png(600, 20)}, "'images.reference' is 600x20; each side at most 512 (max_image_side)"),
        ({"reference": b"\x89PNG" + bytes(30_000)}, "'images.reference' is 30004 bytes; the limit is 20000"),
        ({"reference": png(), "mask": png()}, "workflow 'sprite_img2img' has no image 'mask'; its images: reference"),
    ],
)
def test_a_bad_image_is_refused_naming_it_and_the_limits(image_worker, uploads_replay, images, expected):
    client = image_worker.client()
    with pytest.raises(ClientError) as caught:
        client.call("generate", id="bad-image", **IMG2IMG, **({"images": images} if images is not None else {}))
    assert caught.value.code == "invalid_params" and caught.value.message.startswith(expected), caught.value.message
    assert not (image_worker.output_dir / "bad-image").exists()  # nothing kept for a job that was not made
    assert uploads_replay.uploads == {}


def test_a_workflow_without_images_refuses_them(image_worker):
    with pytest.raises(ClientError, match="workflow 'sprite' has no image 'reference'; its images: none"):
        image_worker.client().call("generate", prompt="x", workflow="sprite", images={"reference": png()})


def test_images_survive_a_worker_restart_and_go_again_with_a_prompt_comfyui_lost(tmp_path, uploads_replay):
    uploads_replay.call(lambda state: state.released.clear())  # prompts wait in ComfyUI's queue
    process = ServeProcess(tmp_path, uploads_replay.url, stats_interval=0.05, reconcile_interval=0.05)
    try:
        client = process.start()
        image = png(32, 32, (10, 200, 10))
        client.call("generate", id="ref-restart", **IMG2IMG, images={"reference": image})
        wait_for(lambda: uploads_replay.call(lambda state: len(state.prompts_received)), what="the prompt")
        process.kill9()
        # ComfyUI "restarts" too: its queue, history and the uploaded file are gone.
        uploads_replay.call(lambda state: (state.pending.clear(), state.history.clear(), state.released.set()))
        name = next(iter(uploads_replay.uploads))
        uploads_replay.uploads[name] = []
        client = process.start()
        job = wait_done(client, "ref-restart")
        assert job["state"] == "done" and job["attempts"] == 2, job
        assert uploads_replay.uploads == {name: [image]}  # sent again from the worker's own copy
        assert sidecar(process.output_dir, "ref-restart")["input_images"] == {
            "reference": hashlib.sha256(image).hexdigest()
        }
    finally:
        process.stop()
