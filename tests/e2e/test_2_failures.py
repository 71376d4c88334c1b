"""Jobs that fail on a real ComfyUI: rejected by its validation, or raising in a node while running."""

from __future__ import annotations

from tests.e2e.e2e_helpers import pipeline, progress_of, run_job, states_of, steps


def test_a_checkpoint_no_backend_has_fails_before_anything_is_sent(e2e_worker, comfy):
    """pixflow checks a job's model files against each backend's /object_info before sending it (docs/pool.md):
    a checkpoint no backend offers fails the job at once, naming it, and ComfyUI never sees the prompt."""
    running = e2e_worker()
    client = running.client()
    events = run_job(client, "invalid-1", workflow="missing_model")

    assert states_of(events) == ["queued", "failed"]
    assert progress_of(events) == []
    error = events[-1][1]["error"]
    assert error["code"] == "no_capable_backend"
    assert "missing.safetensors" in error["message"] and "local lacks checkpoint" in error["message"]
    status = client.status("invalid-1")
    assert status["state"] == "failed" and status["error"] == error and status["outputs"] == []
    assert status["attempts"] == 0
    assert comfy.history(status["prompt_id"]) is None  # ComfyUI never queued it
    assert not (running.output_dir / "invalid-1").exists()


def test_a_node_raising_fails_the_job_with_node_id_and_message(e2e_worker, comfy):
    loader_runs = not comfy.has_run_a_prompt()
    running = e2e_worker()
    client = running.client()
    events = run_job(client, "escape-1", workflow="escape", seed=6006)

    # ComfyUI runs the graph up to SaveImage, which refuses a prefix outside its output folder.
    assert states_of(events) == pipeline(
        "encoding", "sampling", "decoding", "saving", loader_ran=loader_runs, end="failed"
    )
    assert progress_of(events) == steps("3", 8)
    error = events[-1][1]["error"]
    assert error["code"] == "execution_error"
    assert (error["node_id"], error["node_type"], error["exception_type"]) == ("9", "SaveImage", "Exception")
    assert "Saving image outside the output folder is not allowed" in error["exception_message"]
    assert "SaveImage (node 9) raised Exception" in error["message"]
    assert error["traceback"] and all(isinstance(line, str) for line in error["traceback"])
    status = client.status("escape-1")
    assert status["state"] == "failed" and status["outputs"] == []
    assert comfy.finished_entry(status["prompt_id"])["status"]["status_str"] == "error"
    assert not (running.output_dir / "escape-1").exists()
