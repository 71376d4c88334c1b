"""`pixflow.replay.recorder` against the replay ComfyUI over real sockets: what it writes, and how it fails."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from pixflow.comfy.client import ComfyClient
from pixflow.errors import PixflowError, RecordingError, RecordingTimeout
from pixflow.replay.recorder import record, record_server_info
from pixflow.replay.recordings import load_recording
from tests.helpers import REPO, play_next

GRAPH = json.loads((REPO / "workflows" / "txt2img.json").read_text())


def _kinds(path: Path) -> list[str]:
    return [json.loads(line)["kind"] for line in path.read_text().splitlines()]


def _free_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_run_with_feature_flags_is_recorded_whole(tmp_path, replay):
    play_next(replay, "fresh_preview_flags")
    summary = record(replay.url, GRAPH, tmp_path / "run.jsonl", tmp_path / "output", feature_flags=True)
    assert summary.outcome == "success" and summary.http_status == 200
    kinds = _kinds(tmp_path / "run.jsonl")
    assert kinds[:2] == ["ws_sent", "http_post_prompt"] and kinds[-1] == "http_get_history"
    assert summary.lines == len(kinds) and summary.ws_binary == kinds.count("ws_binary") > 0
    assert summary.event_types["progress"] == summary.ws_binary  # one preview per sampler step
    assert len(summary.images) == 1 and summary.images[0].parent == tmp_path / "output"
    assert summary.images[0].read_bytes().startswith(b"\x89PNG")
    recording = load_recording(tmp_path / "run.jsonl")  # what replay will play back
    assert recording.prompt_id == summary.prompt_id and recording.history is not None


def test_an_interrupt_is_sent_once_after_the_asked_step(tmp_path, replay):
    play_next(replay, "interrupt")
    summary = record(replay.url, GRAPH, tmp_path / "run.jsonl", tmp_path / "output", interrupt_after_step=3)
    assert summary.outcome == "interrupted" and summary.interrupted_at_step == 3
    assert _kinds(tmp_path / "run.jsonl").count("http_post_interrupt") == 1
    assert summary.images == []


def test_a_rejected_prompt_is_recorded_without_history(tmp_path, replay):
    play_next(replay, "validation_error")
    summary = record(replay.url, GRAPH, tmp_path / "run.jsonl", tmp_path / "output")
    assert (summary.outcome, summary.http_status) == ("rejected", 400)
    assert summary.post_body["node_errors"] and summary.history is None
    assert _kinds(tmp_path / "run.jsonl") == ["http_post_prompt"]


def test_path_rewrites_keep_local_paths_out_of_the_fixture(tmp_path, replay):
    play_next(replay, "runtime_error")
    summary = record(
        replay.url, GRAPH, tmp_path / "run.jsonl", tmp_path / "output", path_rewrites={"/srv/ComfyUI": "/opt/c"}
    )
    assert summary.outcome == "error"
    text = (tmp_path / "run.jsonl").read_text()
    assert "/opt/c" in text and "/srv/ComfyUI" not in text


def test_a_prompt_that_never_ends_times_out_keeping_the_lines_so_far(tmp_path, replay):
    replay.call(lambda state: state.released.clear())  # ComfyUI holds the prompt: no event ever comes
    with pytest.raises(RecordingTimeout) as caught:
        record(replay.url, GRAPH, tmp_path / "run.jsonl", tmp_path / "output", timeout=0.5)
    assert caught.value.code == "recording_timeout"
    kinds = _kinds(tmp_path / "run.jsonl")
    assert kinds[0] == "http_post_prompt" and set(kinds[1:]) <= {"ws_json"}  # status frames only


def test_an_unreachable_comfyui_is_a_recording_error_with_its_cause(tmp_path):
    url = _free_url()
    with pytest.raises(RecordingError) as caught:
        record(url, GRAPH, tmp_path / "run.jsonl", tmp_path / "output", timeout=5)
    assert isinstance(caught.value, PixflowError) and caught.value.code == "recording_failed"
    assert url in str(caught.value) and caught.value.__cause__ is not None
    with pytest.raises(RecordingError, match="unreachable"):
        record_server_info(url, tmp_path, http_timeout=2)


def test_server_info_is_written_as_json(tmp_path, replay):
    written = record_server_info(replay.url, tmp_path / "info")
    assert json.loads(written["object_info"].read_text())["CheckpointLoaderSimple"]
    assert "system" in json.loads(written["system_stats"].read_text())


def test_socket_url_carries_the_client_id():
    with ComfyClient("https://example.test/comfy/") as client:
        assert client.socket_url("abc") == "wss://example.test/comfy/ws?clientId=abc"
