"""`--log-format json`: one JSON object a line, with the job id and backend where a line is about one."""

from __future__ import annotations

import json
import logging

from pixflow.cli.logs import JsonFormatter
from pixflow.testing import ServeProcess
from tests.helpers import TERMINAL_STATES, play_next, wait_for


def _record(msg: str, *args: object) -> dict:
    record = logging.LogRecord("pixflow.x", logging.WARNING, __file__, 1, msg, args, None)
    return json.loads(JsonFormatter().format(record))


def test_job_and_backend_come_from_the_arguments_of_the_conventional_prefixes():
    line = _record("job %s: no event from %s for %ss; reconciling", "sprite-1", "http://gpu0", 30)
    assert (line["job_id"], line["message"]) == (
        "sprite-1",
        "job sprite-1: no event from http://gpu0 for 30s; reconciling",
    )
    assert _record("backend %s: cancel of %s: %s", "gpu1", "j-2", "boom")["backend"] == "gpu1"
    assert _record("%d%% done for job %s on backend %s", 50, "j-3", "gpu2") | {"ts": 0} == {
        "ts": 0,
        "level": "WARNING",
        "logger": "pixflow.x",
        "message": "50% done for job j-3 on backend gpu2",
        "job_id": "j-3",
        "backend": "gpu2",
    }
    assert "job_id" not in _record("stopping: every job handed to ComfyUI has ended")


def test_a_serving_worker_writes_only_json_lines(tmp_path, replay):
    process = ServeProcess(tmp_path, replay.url, log_format="json", log_level="DEBUG")
    client = process.start()
    client.call("generate", id="logged-1", prompt="knight", size=[64, 64], steps=8)
    wait_for(lambda: client.status("logged-1")["state"] in TERMINAL_STATES, 15, "the job to end")
    process.stop()
    lines = [json.loads(line) for line in process.log.read_text().splitlines()]
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line.get("job_id") == "logged-1" for line in lines)


def test_at_info_each_job_gets_a_line_when_accepted_placed_and_ended_with_its_error_code(tmp_path, replay):
    play_next(replay, "fresh", "runtime_error")
    process = ServeProcess(tmp_path, replay.url, log_format="json", log_level="INFO")
    client = process.start()
    for job_id in ("logged-ok", "logged-bad"):
        client.call("generate", id=job_id, prompt="knight", size=[64, 64], steps=8)
        wait_for(lambda job_id=job_id: client.status(job_id)["state"] in TERMINAL_STATES, 15, f"{job_id} to end")
    process.stop()
    lines = [json.loads(line) for line in process.log.read_text().splitlines()]
    said = {(line.get("job_id"), line["level"], line["message"].split(":")[0]) for line in lines}
    for job_id in ("logged-ok", "logged-bad"):
        assert (job_id, "INFO", f"job {job_id} accepted") in said
        assert any(line.get("job_id") == job_id and "placed on backend" in line["message"] for line in lines)
    assert any(m.startswith("job logged-ok done in") for j, level, m in said if level == "INFO")
    [failed] = [line for line in lines if line.get("job_id") == "logged-bad" and line["level"] == "WARNING"]
    assert "failed (execution_error)" in failed["message"] and failed["backend"] == "local"
    assert any(line.get("backend") == "local" and " up at " in line["message"] for line in lines)
