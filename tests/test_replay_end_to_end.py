"""Every recording in fixtures/, end to end over real sockets: ZeroMQ client → worker → replay ComfyUI.

Each test runs on both sets: the recordings given to the project (fixtures/comfyui-0.3.75) and the ones
pixflow's own recorder made from a real ComfyUI (fixtures/recordings), whose names differ.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixflow.comfy.outputs import png_size
from pixflow.replay.server import ReplayServer
from tests.helpers import (
    FIXTURES,
    FULL_RUN,
    RECORDED,
    TERMINAL_STATES,
    TOPIC_PROGRESS,
    TOPIC_STATE,
    progress_of,
    run_job,
    states_of,
    wait_for,
)

STEPS_8 = [("3", step, 8) for step in range(1, 9)]
RECORDED_NAMES = {
    "fresh": "txt2img_fresh",
    "cached_all": "txt2img_cached",
    "new_prompt": "txt2img_new_seed",
    "fresh_preview_flags": "txt2img_preview_flags",
}
FIXTURE_SETS = {"given": (FIXTURES, {}), "recorded": (RECORDED, RECORDED_NAMES)}


@pytest.fixture(params=list(FIXTURE_SETS))
def replay(request):
    directory, names = FIXTURE_SETS[request.param]
    server = ReplayServer(directory, default=names.get("fresh", "fresh"), speed=0).start()
    server.names = names
    yield server
    server.stop()


def play_scenario(replay: ReplayServer, scenario: str) -> None:
    """Queue the recording of a scenario (named as in the given set) for the next prompt."""
    name = replay.names.get(scenario, scenario)
    replay.call(lambda state: state.playlist.append(name))


def _assert_saved_png(output: dict, job_id: str, width: int = 64, height: int = 64) -> dict:
    path = Path(output["path"])
    assert path.is_file() and path.name.startswith(job_id)
    assert png_size(path.read_bytes()) == (width, height)
    assert (output["width"], output["height"]) == (width, height)
    sidecar = json.loads((path.parent / f"{job_id}.json").read_text())
    assert sidecar["outputs"][0]["path"] == str(path)
    return sidecar


def test_fresh_run_goes_through_every_stage_and_saves_the_image(worker, replay):
    client = worker.client()
    events = run_job(client, "fresh-1", seed=1001, cfg_scale=7.0)
    assert states_of(events) == FULL_RUN
    assert progress_of(events) == STEPS_8
    assert [e["seq"] for _, e in events] == list(range(1, len(events) + 1))
    done = events[-1][1]
    assert done["from"] == "saving" and len(done["outputs"]) == 1
    sidecar = _assert_saved_png(done["outputs"][0], "fresh-1")
    assert sidecar["seed"] == 1001
    assert sidecar["request"]["prompt"] == "pixel art knight, 16-bit sprite"
    assert sidecar["graph"]["3"]["inputs"]["seed"] == 1001
    assert sidecar["workflow"] == "txt2img"
    assert set(sidecar["timings"]["state_times"]) >= {"queued", "loading", "sampling", "saving"}
    status = client.status("fresh-1")
    assert status["state"] == "done" and status["outputs"] == done["outputs"] and status["seq"] == len(events)
    # ComfyUI's last `status` of the run counts it no more (as recorded): its queue is empty, and says so.
    wait_for(lambda: client.status()["backends"][0]["queue_remaining"] == 0, 5, "the backend's queue to be empty")
    assert replay.call(lambda state: state.queue_remaining()) == 0


def test_partly_cached_run_skips_loading(worker, replay):
    play_scenario(replay, "new_prompt")
    events = run_job(worker.client(), "partial-1")
    states = states_of(events)
    # A new prompt re-encodes (given set); a new seed only samples again (recorded set): never a reload.
    assert states[0] == "queued" and "loading" not in states
    assert states[-4:] == ["sampling", "decoding", "saving", "done"]
    assert progress_of(events) == STEPS_8
    _assert_saved_png(events[-1][1]["outputs"][0], "partial-1")


def test_fully_cached_run_goes_from_queued_to_done_with_the_earlier_image(worker, replay):
    play_scenario(replay, "cached_all")
    events = run_job(worker.client(), "cached-1")
    assert states_of(events) == ["queued", "done"]
    assert progress_of(events) == []
    outputs = events[-1][1]["outputs"]
    assert outputs[0]["comfy_filename"] == "pixflow_00001_.png"  # the earlier run's file: nothing new written
    _assert_saved_png(outputs[0], "cached-1")


def test_previews_with_metadata_are_forwarded_with_their_step(worker, replay):
    play_scenario(replay, "fresh_preview_flags")
    events = run_job(worker.client(), "preview-1", previews=True)
    assert states_of(events)[-4:] == ["sampling", "decoding", "saving", "done"]
    assert progress_of(events) == [("3", step, 4) for step in range(1, 5)]
    previews = [e for topic, e in events if topic.startswith("job.preview.")]
    assert len(previews) == 4
    assert all(p["format"] == "jpeg" and p["image"][:2] == b"\xff\xd8" and p["node"] == "3" for p in previews)
    # Type-4 previews come just before their step's progress event: each still carries its own step.
    assert [p["step"] for p in previews] == [1, 2, 3, 4]


def test_previews_are_not_sent_unless_asked_for(worker, replay):
    events = run_job(worker.client(), "no-preview-1")
    assert not [topic for topic, _ in events if topic.startswith("job.preview.")]


def test_type1_previews_are_attributed_to_the_running_prompt(worker, replay):
    events = run_job(worker.client(), "preview-2", previews=True)
    previews = [e for topic, e in events if topic.startswith("job.preview.")]
    assert [p["step"] for p in previews] == list(range(1, 9))


def test_runtime_error_fails_with_node_and_exception(worker, replay):
    play_scenario(replay, "runtime_error")
    events = run_job(worker.client(), "error-1")
    assert states_of(events)[-4:] == ["sampling", "decoding", "saving", "failed"]
    error = events[-1][1]["error"]
    assert error["code"] == "execution_error"
    assert (error["node_id"], error["node_type"], error["exception_type"]) == ("9", "SaveImage", "Exception")
    assert "outside the output folder" in error["exception_message"]
    assert error["traceback"]
    assert not (worker.output_dir / "error-1").exists()


def test_validation_error_fails_before_any_stage_with_node_errors(worker, replay):
    play_scenario(replay, "validation_error")
    events = run_job(worker.client(), "invalid-1")
    assert states_of(events) == ["queued", "failed"]
    error = events[-1][1]["error"]
    assert error["code"] == "validation_error"
    assert error["node_errors"]["4"]["class_type"] == "CheckpointLoaderSimple"
    assert "missing.safetensors" in error["message"]


def test_cancel_while_sampling_interrupts_and_ends_cancelled(worker, replay):
    play_scenario(replay, "interrupt")
    client = worker.client()
    client.subscribe_job("cancel-1")
    client.wait_subscribed()
    client.call("generate", id="cancel-1", prompt="knight", size=[64, 64], steps=20)
    events = []
    for topic, event in client.follow("cancel-1", 10):
        events.append((topic, event))
        if topic.startswith(TOPIC_PROGRESS) and event["value"] == 3:
            reply = client.cancel("cancel-1")
            assert reply["cancel_requested"] is True
    assert states_of(events)[-2:] == ["sampling", "cancelled"]
    assert progress_of(events) == [("3", step, 20) for step in (1, 2, 3)]


def test_interrupt_not_asked_for_by_pixflow_fails_the_job(worker, replay):
    play_scenario(replay, "interrupt")
    client = worker.client()
    client.subscribe_job("foreign-1")
    client.wait_subscribed()
    client.call("generate", id="foreign-1", prompt="knight", size=[64, 64], steps=20)
    wait_for(lambda: client.status("foreign-1")["state"] == "sampling")
    replay.call(lambda state: state.running.interrupted.set())  # someone else pressed "cancel" in ComfyUI
    events = list(client.follow("foreign-1", 10))
    assert events[-1][1]["to"] == "failed"
    assert events[-1][1]["error"]["code"] == "interrupted"


def test_several_jobs_run_in_order_and_each_gets_its_own_files(worker, replay):
    client = worker.client()
    client.subscribe(TOPIC_STATE.encode())
    client.wait_subscribed()
    ids = [f"batch-{i}" for i in range(5)]
    for job_id in ids:
        client.call("generate", id=job_id, prompt=f"sprite {job_id}", size=[64, 64], steps=8)
    finished = {}
    while len(finished) < len(ids):
        _, event = client.next_event(10, want=lambda t, e: e.get("to") in TERMINAL_STATES)
        finished[event["job_id"]] = event
    assert all(event["to"] == "done" for event in finished.values())
    for job_id in ids:
        _assert_saved_png(finished[job_id]["outputs"][0], job_id)
    received = replay.call(lambda state: dict(state.prompts_received))
    assert sorted(received.values()) == [1] * 5
