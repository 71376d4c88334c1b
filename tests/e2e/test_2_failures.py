"""Jobs that fail on a real ComfyUI: rejected by its validation, or raising in a node while running."""

from __future__ import annotations

from tests.e2e.e2e_helpers import pipeline, progress_of, run_job, states_of, steps


def test_unknown_checkpoint_fails_validation_with_comfyuis_node_errors(e2e_worker, comfy):
    running = e2e_worker()
    client = running.client()
    events = run_job(client, "invalid-1", workflow="missing_model")

    assert states_of(events) == ["queued", "failed"]
    assert progress_of(events) == []
    error = events[-1][1]["error"]
    assert error["code"] == "validation_error"
    assert error["comfy_error"]["type"] == "prompt_outputs_failed_validation"
    node = error["node_errors"]["4"]
    assert node["class_type"] == "CheckpointLoaderSimple"
    assert node["errors"][0]["type"] == "value_not_in_list"
    assert "missing.safetensors" in node["errors"][0]["details"]
    assert "missing.safetensors" in error["message"] and "node 4 (CheckpointLoaderSimple)" in error["message"]
    status = client.status("invalid-1")
    assert status["state"] == "failed" and status["error"] == error and status["outputs"] == []
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
