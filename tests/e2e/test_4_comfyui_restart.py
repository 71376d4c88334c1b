"""ComfyUI killed (SIGKILL) in the middle of a job, then started again on the same port.

The policy (Settings.max_attempts, Scheduler._resubmit_lost): the worker stays up, waits for ComfyUI,
reconciles when it is back, finds that the restarted ComfyUI has never heard of the prompt, and sends
it again (attempt 2); the job ends done. These tests kill a ComfyUI of their own, not the session's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from e2e.comfyui_server import ComfyUIServer
from tests.e2e.e2e_helpers import ComfyHTTP, JobEvents, assert_png, pipeline, sidecar_of, steps, wait_for

STEPS = 40  # about 3 s of sampling on an idle machine: time to kill ComfyUI mid-job


@pytest.fixture(scope="module")
def own_comfyui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyUIServer]:
    server = ComfyUIServer(run_dir=tmp_path_factory.mktemp("own-comfyui"))  # a free port of its own
    server.start()
    yield server
    server.stop()


def kill_and_restart(server: ComfyUIServer, client) -> None:
    """SIGKILL ComfyUI, check that the worker stays up and reports it down, start ComfyUI again."""
    server.kill()
    backend = wait_for(
        lambda: (b := client.status()["backends"][0])["up"] is False and b, 30, what="the worker to see ComfyUI down"
    )
    assert server.url in backend["reason"], backend
    assert client.ping()["type"] == "pong"
    server.start()  # same port, same output folder; its history and queue are gone


@pytest.mark.timeout(300)
def test_comfyui_killed_mid_job_and_restarted_the_job_is_sent_again_and_done(e2e_worker, own_comfyui):
    loader_runs = not ComfyHTTP(own_comfyui.url).has_run_a_prompt()
    # A restart of ComfyUI is no failover: a slow one (a loaded machine) must not be taken for a dead one.
    client = e2e_worker(own_comfyui.url, failover_after=600).client()
    jobs = JobEvents(client).watch("crash-1", "after-1")
    jobs.generate("crash-1", steps=STEPS, seed=10001)
    jobs.progress_reaches("crash-1", 3)
    prompt_id = client.status("crash-1")["prompt_id"]

    kill_and_restart(own_comfyui, client)

    events = jobs.finished("crash-1", 150)
    # Requeued when the restarted ComfyUI turned out not to know the prompt; a cold ComfyUI loads again.
    assert jobs.states("crash-1") == [
        *pipeline("encoding", "sampling", loader_ran=loader_runs, end="queued"),
        *pipeline("encoding", "sampling", "decoding", "saving", loader_ran=True)[1:],
    ]
    progress = jobs.progress("crash-1")
    first_run = progress[: len(progress) - STEPS]  # up to the kill
    assert first_run == steps("3", STEPS)[: len(first_run)] and 3 <= len(first_run) < STEPS
    assert progress[len(first_run) :] == steps("3", STEPS)
    output = events[-1][1]["outputs"][0]
    assert_png(output, "crash-1", 0, 64, 64)
    assert sidecar_of(output, "crash-1")["attempts"] == 2
    status = client.status("crash-1")
    assert (status["state"], status["attempts"], status["prompt_id"]) == ("done", 2, prompt_id)
    entry = ComfyHTTP(own_comfyui.url).history(prompt_id)  # the same prompt id, sent again
    assert entry["status"]["status_str"] == "success"

    # And the worker serves the next job as usual.
    jobs.generate("after-1", seed=10002)
    after = jobs.finished("after-1")
    assert jobs.states("after-1") == pipeline("encoding", "sampling", "decoding", "saving", loader_ran=False)
    assert_png(after[-1][1]["outputs"][0], "after-1", 0, 64, 64)
    assert client.status("after-1")["attempts"] == 1


@pytest.mark.timeout(300)
def test_jobs_lost_in_a_restart_are_sent_again_in_their_order(e2e_worker, own_comfyui):
    client = e2e_worker(own_comfyui.url, max_inflight=2, failover_after=600).client()
    jobs = JobEvents(client).watch("lost-1", "lost-2")
    jobs.generate("lost-1", steps=STEPS, seed=11001)
    jobs.progress_reaches("lost-1", 3)
    jobs.generate("lost-2", seed=11002)  # waits in ComfyUI's queue behind lost-1
    second = client.status("lost-2")["prompt_id"]
    wait_for(lambda: second in ComfyHTTP(own_comfyui.url).queue_ids()[1], 10, what="lost-2 in ComfyUI's queue")

    kill_and_restart(own_comfyui, client)

    first, later = jobs.finished("lost-1", 150)[-1][1], jobs.finished("lost-2", 150)[-1][1]
    assert first["to"] == later["to"] == "done"
    assert client.status("lost-1")["attempts"] == client.status("lost-2")["attempts"] == 2
    # First come, first served (docs/protocol.md, `priority`): lost-1 runs again before lost-2.
    assert client.status("lost-1")["finished_at"] < client.status("lost-2")["finished_at"]
