"""Crash tests: the worker is a real process killed with SIGKILL at each point of a job's life, then restarted.

After each, the job must end in the right state with exactly one set of outputs, and the replay ComfyUI
must have received its prompt exactly once (or exactly twice when ComfyUI itself lost it).
"""

from __future__ import annotations

import pytest

from pixflow.client import Client
from pixflow.testing import ServeProcess
from tests.helpers import TERMINAL_STATES, TOPIC_PROGRESS, wait_for


@pytest.fixture
def worker_process(tmp_path, replay):
    process = ServeProcess(tmp_path, replay.url, stats_interval=0.05, reconcile_interval=0.05, log_level="DEBUG")
    yield process
    process.stop()


def _received(replay) -> dict[str, int]:
    return replay.call(lambda state: dict(state.prompts_received))


def _wait_done(client: Client, job_id: str, timeout: float = 15.0) -> dict:
    return wait_for(
        lambda: (job := client.status(job_id))["state"] in TERMINAL_STATES and job,
        timeout=timeout,
        what=f"job {job_id} to end",
    )


def _assert_one_set_of_outputs(process: ServeProcess, job: dict) -> None:
    assert job["state"] == "done", job
    assert len(job["outputs"]) == 1
    files = sorted(p.name for p in (process.output_dir / job["job_id"]).iterdir())
    assert files == [f"{job['job_id']}.json", f"{job['job_id']}_00.png"]


GENERATE = {"prompt": "pixel art knight", "size": [64, 64], "steps": 8}


def test_killed_just_after_accepting_the_job_runs_it_after_restart(worker_process, replay):
    client = worker_process.start()
    client.call("pause")  # hold dispatch so the kill lands between `accepted` and the POST
    client.call("generate", id="crash-accepted", **GENERATE)
    worker_process.kill9()
    client = worker_process.start()
    assert client.status()["paused"] is True  # pausing is durable too
    assert client.status("crash-accepted")["state"] == "queued"
    client.call("resume")
    job = _wait_done(client, "crash-accepted")
    _assert_one_set_of_outputs(worker_process, job)
    assert list(_received(replay).values()) == [1]


def test_killed_while_the_prompt_waits_in_comfyuis_queue_reattaches(worker_process, replay):
    replay.call(lambda state: state.released.clear())  # ComfyUI holds the prompt before running it
    client = worker_process.start()
    client.call("generate", id="crash-dispatched", **GENERATE)
    wait_for(lambda: _received(replay), what="ComfyUI to receive the prompt")
    worker_process.kill9()
    client = worker_process.start()
    replay.call(lambda state: state.released.set())
    job = _wait_done(client, "crash-dispatched")
    _assert_one_set_of_outputs(worker_process, job)
    assert list(_received(replay).values()) == [1] and job["attempts"] == 1


def test_killed_while_sampling_follows_the_prompt_to_its_end(worker_process, replay):
    replay.call(lambda state: setattr(state, "speed", 1.0))  # recorded timing: sampling takes ~0.6 s
    client = worker_process.start()
    client.subscribe_job("crash-sampling")
    client.wait_subscribed()
    client.call("generate", id="crash-sampling", **GENERATE)
    client.next_event(10, want=lambda topic, event: topic.startswith(TOPIC_PROGRESS))
    worker_process.kill9()
    client = worker_process.start()
    job = _wait_done(client, "crash-sampling")
    _assert_one_set_of_outputs(worker_process, job)
    assert list(_received(replay).values()) == [1]


def test_killed_after_comfyui_finished_but_before_saving_saves_once(worker_process, replay):
    replay.call(lambda state: setattr(state, "view_delay", 30.0))  # the download hangs: kill the worker then
    client = worker_process.start()
    client.call("generate", id="crash-saving", **GENERATE)
    prompt_id = client.status("crash-saving")["prompt_id"]
    wait_for(lambda: replay.call(lambda state: prompt_id in state.history), what="ComfyUI to finish the prompt")
    worker_process.kill9()
    replay.call(lambda state: setattr(state, "view_delay", 0.0))
    client = worker_process.start()
    job = _wait_done(client, "crash-saving")
    _assert_one_set_of_outputs(worker_process, job)
    assert _received(replay) == {prompt_id: 1}


def test_a_prompt_comfyui_lost_in_its_own_restart_is_sent_again(worker_process, replay):
    replay.call(lambda state: state.released.clear())
    client = worker_process.start()
    client.call("generate", id="crash-lost", **GENERATE)
    prompt_id = client.status("crash-lost")["prompt_id"]
    wait_for(lambda: _received(replay), what="ComfyUI to receive the prompt")
    worker_process.kill9()
    replay.call(lambda state: (state.pending.clear(), state.history.clear(), state.released.set()))  # "restart"
    client = worker_process.start()
    job = _wait_done(client, "crash-lost")
    _assert_one_set_of_outputs(worker_process, job)
    assert _received(replay) == {prompt_id: 2} and job["attempts"] == 2


def test_finished_jobs_survive_a_restart_and_ids_stay_taken(worker_process, replay):
    client = worker_process.start()
    client.call("generate", id="kept", **GENERATE)
    before = _wait_done(client, "kept")
    worker_process.kill9()
    client = worker_process.start()
    after = client.status("kept")
    assert after["state"] == "done" and after["outputs"] == before["outputs"]
    again = client.call("generate", id="kept", **GENERATE)
    assert again["existing"] is True
    assert list(_received(replay).values()) == [1]
    assert client.call("list_jobs", state="done")["total"] == 1
