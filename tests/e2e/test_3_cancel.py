"""Cancel on a real ComfyUI: in pixflow's queue, in ComfyUI's queue, and while running; others go on."""

from __future__ import annotations

import pytest

from pixflow.client import ClientError
from tests.e2e.e2e_helpers import JobEvents, assert_png, pipeline, states_of, steps, wait_for

LONG_STEPS = 150  # about 12 s on two CPU cores: a window wide enough to act in while it runs


def test_cancel_in_pixflows_queue_never_reaches_comfyui(e2e_worker, comfy):
    running = e2e_worker()
    client = running.client()
    jobs = JobEvents(client).watch("held-1", "held-2")
    assert client.call("pause")["paused"] is True  # hold dispatch: both jobs stay in pixflow's queue
    jobs.generate("held-1", seed=7001)
    jobs.generate("held-2", seed=7002)
    for job_id in ("held-1", "held-2"):  # the loop dispatches after every request: they would be out by now
        status = client.status(job_id)
        assert (status["state"], status["backend"], status["attempts"]) == ("queued", None, 0), status

    reply = client.cancel("held-1")
    assert reply["state"] == "cancelled" and reply["cancel_requested"] is True
    with pytest.raises(ClientError) as info:
        client.cancel("held-1")
    assert info.value.code == "already_finished"
    assert client.call("resume")["paused"] is False

    held_2 = jobs.finished("held-2")
    assert states_of(held_2)[-1] == "done"
    assert_png(held_2[-1][1]["outputs"][0], "held-2", 0, 64, 64)
    assert jobs.states("held-1") == ["queued", "cancelled"]
    status = client.status("held-1")
    assert (status["state"], status["attempts"], status["backend"]) == ("cancelled", 0, None)
    assert comfy.history(status["prompt_id"]) is None
    assert not comfy.in_queue(status["prompt_id"])
    assert not (running.output_dir / "held-1").exists()


def test_cancel_while_waiting_in_comfyuis_queue_removes_it_there(e2e_worker, comfy):
    loader_runs = not comfy.has_run_a_prompt()
    running = e2e_worker(max_inflight=2)  # one prompt running in ComfyUI, the next waiting in its queue
    client = running.client()
    jobs = JobEvents(client).watch("long-1", "waiting-1")
    jobs.generate("long-1", steps=LONG_STEPS, seed=8001)
    jobs.progress_reaches("long-1", 1)
    jobs.generate("waiting-1", seed=8002)
    waiting_prompt = client.status("waiting-1")["prompt_id"]
    wait_for(lambda: waiting_prompt in comfy.queue_ids()[1], 10, what="waiting-1 to wait in ComfyUI's queue")

    reply = client.cancel("waiting-1")
    assert reply["cancel_requested"] is True and reply["state"] == "queued"
    assert states_of(jobs.finished("waiting-1", 30)) == ["queued", "cancelled"]
    assert not comfy.in_queue(waiting_prompt)
    _, at_cancel = jobs.until(lambda t, e: t.startswith("job.progress.") and e["job_id"] == "long-1", 10, "long-1")

    # The running job did not notice: it samples on to the end and saves its image.
    long = jobs.finished("long-1", 180)  # 12 s on an idle machine
    assert states_of(long) == pipeline("encoding", "sampling", "decoding", "saving", loader_ran=loader_runs)
    assert jobs.progress("long-1") == steps("3", LONG_STEPS) and at_cancel["value"] < LONG_STEPS
    assert_png(long[-1][1]["outputs"][0], "long-1", 0, 64, 64)
    assert comfy.history(waiting_prompt) is None  # ComfyUI never ran it
    assert not (running.output_dir / "waiting-1").exists()


def test_cancel_while_running_interrupts_that_prompt_only(e2e_worker, comfy):
    running = e2e_worker(max_inflight=2)
    client = running.client()
    jobs = JobEvents(client).watch("run-1", "next-1")
    jobs.generate("run-1", steps=LONG_STEPS, seed=9001)
    jobs.progress_reaches("run-1", 3)
    jobs.generate("next-1", seed=9002)
    next_prompt = client.status("next-1")["prompt_id"]
    wait_for(lambda: next_prompt in comfy.queue_ids()[1], 10, what="next-1 to wait in ComfyUI's queue")

    reply = client.cancel("run-1")
    assert reply["cancel_requested"] is True and reply["state"] == "sampling"
    run = jobs.finished("run-1", 30)
    assert states_of(run)[-2:] == ["sampling", "cancelled"]
    values = [value for _, value, _ in jobs.progress("run-1")]
    assert values == list(range(1, len(values) + 1)) and 3 <= values[-1] < LONG_STEPS
    run_prompt = client.status("run-1")["prompt_id"]
    history = comfy.finished_entry(run_prompt)
    assert history["status"]["status_str"] == "error"
    assert "execution_interrupted" in [kind for kind, _ in history["status"]["messages"]]
    assert not (running.output_dir / "run-1").exists()

    # The interrupt named run-1's prompt: next-1, waiting behind it, runs to the end.
    following = jobs.finished("next-1")
    assert states_of(following) == pipeline("encoding", "sampling", "decoding", "saving", loader_ran=False)
    assert jobs.progress("next-1") == steps("3", 8)
    assert_png(following[-1][1]["outputs"][0], "next-1", 0, 64, 64)
