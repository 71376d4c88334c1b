"""Generating images on a real ComfyUI: a fresh run, ComfyUI's cache, previews, two passes, a batch.

This file runs first (files are collected in name order) so that its first test meets the session's
ComfyUI cold and sees the checkpoint being loaded.
"""

from __future__ import annotations

from tests.e2e.e2e_helpers import (
    assert_png,
    assert_seq_contiguous,
    pipeline,
    progress_of,
    run_job,
    sidecar_of,
    states_of,
    steps,
    unique_prompt,
)


def test_txt2img_goes_through_every_stage_and_saves_a_png_of_the_requested_size(e2e_worker, comfy):
    loader_runs = not comfy.has_run_a_prompt()  # true when this test runs first, as in run_e2e.py
    client = e2e_worker().client()
    prompt = unique_prompt("knight")
    events = run_job(client, "fresh-1", prompt=prompt, seed=1001, size=[64, 64], steps=8, cfg_scale=7.0)

    assert states_of(events) == pipeline("encoding", "sampling", "decoding", "saving", loader_ran=loader_runs)
    assert progress_of(events) == steps("3", 8)
    assert_seq_contiguous(events)
    done = events[-1][1]
    assert done["from"] == "saving" and done["passes"] == 0 and len(done["outputs"]) == 1
    assert_png(done["outputs"][0], "fresh-1", 0, 64, 64)
    outputs = [event for topic, event in events if topic.startswith("job.output.")]
    assert [o["path"] for o in outputs] == [done["outputs"][0]["path"]]

    sidecar = sidecar_of(done["outputs"][0], "fresh-1")
    assert sidecar["seed"] == 1001 and sidecar["attempts"] == 1
    assert sidecar["request"]["prompt"] == prompt and sidecar["request"]["size"] == [64, 64]
    assert sidecar["graph"]["3"]["inputs"]["seed"] == 1001 and sidecar["graph"]["6"]["inputs"]["text"] == prompt
    assert sidecar["outputs"] == done["outputs"]

    status = client.status("fresh-1")
    assert status["state"] == "done" and status["outputs"] == done["outputs"] and status["seq"] == events[-1][1]["seq"]
    assert status["progress"] == {"node": "3", "value": 8, "max": 8}
    assert comfy.history(status["prompt_id"])["status"]["status_str"] == "success"


def test_the_same_job_again_is_served_from_comfyuis_cache(e2e_worker, comfy):
    client = e2e_worker().client()
    params = {"prompt": unique_prompt("wizard"), "seed": 2002, "size": [64, 64], "steps": 8}
    first = run_job(client, "same-1", **params)
    assert states_of(first)[-1] == "done"

    again = run_job(client, "same-2", **params)  # a new job id, the same parameters and seed

    assert states_of(again) == ["queued", "done"]
    assert progress_of(again) == []
    first_out, again_out = first[-1][1]["outputs"][0], again[-1][1]["outputs"][0]
    assert again_out["comfy_filename"] == first_out["comfy_filename"]  # ComfyUI wrote no new file
    path = assert_png(again_out, "same-2", 0, 64, 64)
    assert path.read_bytes() == (path.parent.parent / "same-1" / "same-1_00.png").read_bytes()
    history = comfy.history(client.status("same-2")["prompt_id"])
    assert history["status"]["status_str"] == "success"


def test_a_new_seed_reruns_only_the_sampler_and_what_follows(e2e_worker, comfy):
    client = e2e_worker().client()
    prompt = unique_prompt("archer")
    first = run_job(client, "seed-1", prompt=prompt, seed=3003)
    assert states_of(first)[-1] == "done"

    events = run_job(client, "seed-2", prompt=prompt, seed=3004)

    # Loader, empty latent and both text encodings come from the cache: no loading, no encoding.
    assert states_of(events) == ["queued", "sampling", "decoding", "saving", "done"]
    assert progress_of(events) == steps("3", 8)
    out = events[-1][1]["outputs"][0]
    assert out["comfy_filename"] != first[-1][1]["outputs"][0]["comfy_filename"]
    assert_png(out, "seed-2", 0, 64, 64)
    assert sidecar_of(out, "seed-2")["seed"] == 3004


def test_previews_are_forwarded_when_asked_for(e2e_worker):
    client = e2e_worker().client()
    quiet = run_job(client, "no-preview-1", seed=3101)
    assert not [topic for topic, _ in quiet if topic.startswith("job.preview.")]

    events = run_job(client, "preview-1", seed=3102, previews=True)

    assert states_of(events)[-1] == "done" and progress_of(events) == steps("3", 8)
    # ComfyUI runs with --preview-method latent2rgb: one JPEG per sampler step, named by its metadata.
    previews = [event for topic, event in events if topic.startswith("job.preview.")]
    assert [(p["node"], p["format"]) for p in previews] == [("3", "jpeg")] * 8
    assert all(p["image"][:2] == b"\xff\xd8" for p in previews)


def test_previews_carry_the_step_they_show(e2e_worker):
    events = run_job(e2e_worker().client(), "preview-2", seed=3103, previews=True)
    previews = [event for topic, event in events if topic.startswith("job.preview.")]
    assert [p["step"] for p in previews] == list(range(1, 9))


def test_two_pass_workflow_samples_twice_and_saves_twice_the_size(e2e_worker, comfy):
    loader_runs = not comfy.has_run_a_prompt()
    client = e2e_worker().client()
    events = run_job(client, "two-pass-1", workflow="txt2img_2pass", seed=4004, size=[64, 64], steps=8)

    # The second sampler follows the first through a latent upscale: the job stays `sampling`.
    assert states_of(events) == pipeline("encoding", "sampling", "decoding", "saving", loader_ran=loader_runs)
    assert progress_of(events) == steps("3", 8) + steps("11", 8)
    done = events[-1][1]
    assert done["passes"] == 0 and len(done["outputs"]) == 1
    assert_png(done["outputs"][0], "two-pass-1", 0, 128, 128)
    sidecar = sidecar_of(done["outputs"][0], "two-pass-1")
    assert sidecar["workflow"] == "txt2img_2pass"
    assert sidecar["graph"]["3"]["inputs"]["seed"] == sidecar["graph"]["11"]["inputs"]["seed"] == 4004


def test_batch_of_four_saves_four_images(e2e_worker, comfy):
    loader_runs = not comfy.has_run_a_prompt()
    client = e2e_worker().client()
    events = run_job(client, "batch-1", batch_size=4, seed=5005, size=[64, 64], steps=8)

    assert states_of(events) == pipeline("encoding", "sampling", "decoding", "saving", loader_ran=loader_runs)
    assert progress_of(events) == steps("3", 8)
    outputs = events[-1][1]["outputs"]
    assert len(outputs) == 4
    paths = [assert_png(output, "batch-1", index, 64, 64) for index, output in enumerate(outputs)]
    assert len({output["comfy_filename"] for output in outputs}) == 4
    assert len({path.read_bytes() for path in paths}) == 4  # four different images
    assert [o["index"] for t, o in events if t.startswith("job.output.")] == [0, 1, 2, 3]
    assert sidecar_of(outputs[0], "batch-1")["outputs"] == outputs
