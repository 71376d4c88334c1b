"""The command line as a user runs it: `pixflow serve` from a config file, `submit --wait`, status, cancel."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from pixflow.client import Client
from tests.helpers import REPO, wait_for

PIXFLOW = [sys.executable, "-m", "pixflow.cli"]


def _free_tcp() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def metrics_default_taken():
    """Another process's hold on the metrics default port (9464), as on a box where a worker already runs."""
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", 9464))
            sock.listen()
        except OSError:
            pass  # taken already: the same situation
        yield


@pytest.fixture
def served(tmp_path, replay):
    """`pixflow serve` as a real process: settings from a YAML file, the request address from a flag. No metrics
    endpoint: its default port (9464) may be taken on this box."""
    req, pub = _free_tcp(), _free_tcp()
    config = tmp_path / "pixflow.yaml"
    config.write_text(
        f"comfyui_url: {replay.url}\npub_addr: {pub}\noutput_dir: {tmp_path / 'out'}\nreq_addr: tcp://127.0.0.1:1\n"
        f"db_path: {tmp_path / 'pixflow.db'}\nmetrics_addr: ''\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [*PIXFLOW, "serve", "--config", str(config), "--req-addr", req],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = Client(req, pub, timeout=1)
    try:
        wait_for(lambda: _pings(client), timeout=15, what="pixflow serve to answer")
        wait_for(lambda: client.call("list_models")["models"], what="models")
        yield req, pub, tmp_path / "out", env
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
        assert process.returncode == 0, output
        assert "pixflow stopped" in output


def _pings(client: Client) -> bool:
    try:
        return client.ping()["type"] == "pong"
    except Exception:
        return False


def _run(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PIXFLOW, *args], env=env, capture_output=True, text=True, timeout=60, cwd=REPO / "tests")


def test_submit_wait_shows_stages_and_prints_the_image_path(metrics_default_taken, served):
    req, pub, out, env = served
    result = _run(
        env,
        "submit",
        "pixel art knight",
        "--size",
        "64x64",
        "--steps",
        "8",
        "--id",
        "cli-1",
        "--wait",
        "--req-addr",
        req,
        "--pub-addr",
        pub,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("cli-1")] == [
        "loading",
        "encoding",
        "sampling",
        "decoding",
        "saving",
        "done",
    ]
    image = out / "cli-1" / "cli-1_00.png"
    assert f"{image.resolve()}  (64x64)" in result.stdout
    again = _run(env, "submit", "pixel art knight", "--id", "cli-1", "--wait", "--req-addr", req, "--pub-addr", pub)
    assert again.returncode == 0 and f"{image.resolve()}  (64x64)" in again.stdout  # already done: no waiting
    status = _run(env, "status", "cli-1", "--req-addr", req, "--json")
    assert json.loads(status.stdout)["state"] == "done"
    readable = _run(env, "status", "cli-1", "--req-addr", req).stdout.splitlines()
    assert "state:    done" in readable and f"output:   {image.resolve()}  (64x64)" in readable
    cancel = _run(env, "cancel", "cli-1", "--req-addr", req)
    assert cancel.returncode == 2 and "already_finished" in cancel.stderr
    models = _run(env, "models", "--req-addr", req)
    assert models.stdout.split() == ["tiny-sd15.safetensors"]


def test_unreachable_worker_is_a_clear_message(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = _run(env, "status", "--req-addr", _free_tcp(), "--timeout", "0.3")
    assert result.returncode == 2
    assert result.stderr.startswith("pixflow: ") and "the worker at tcp://127.0.0.1:" in result.stderr


def test_bad_config_file_is_a_clear_message(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("colour: blue\n")
    result = _run({**os.environ, "PYTHONPATH": str(REPO)}, "serve", "--config", str(config))
    assert result.returncode == 2
    assert "colour" in result.stderr


def test_demo_runs_and_writes_pngs(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = _run(env, "demo", "--output-dir", str(tmp_path / "demo"), "--speed", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in (tmp_path / "demo").rglob("*.png")) == [
        "demo-1_00.png",
        "demo-2_00.png",
        "demo-3_00.png",
    ]
    assert result.stdout.count("(64x64)") == 3


def test_settings_layering_file_then_environment_then_flags(tmp_path):
    from pixflow.settings import load_settings

    config = tmp_path / "s.yaml"
    config.write_text("comfyui_url: http://file:1\nmax_inflight: 3\nhttp_timeout: 2.5\n")
    settings = load_settings(
        config, {"req_addr": "tcp://127.0.0.1:9"}, environ={"PIXFLOW_MAX_INFLIGHT": "4", "PIXFLOW_UNRELATED": "x"}
    )
    assert settings.comfyui_url == "http://file:1"
    assert settings.max_inflight == 4 and settings.http_timeout == 2.5
    assert settings.req_addr == "tcp://127.0.0.1:9"
    with pytest.raises(Exception, match="max_inflight"):
        load_settings(None, environ={"PIXFLOW_MAX_INFLIGHT": "many"})


def test_record_writes_a_fixture_the_replay_server_can_serve(tmp_path, replay, start_worker):
    """`pixflow record` against a ComfyUI (here the replay server) writes a recording that replays the same."""
    from pixflow.replay.recordings import load_recording
    from pixflow.replay.server import ReplayServer

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    fixtures = tmp_path / "fixtures"
    result = _run(
        env,
        "record",
        str(REPO / "workflows" / "txt2img.json"),
        "--out",
        str(fixtures / "mine.jsonl"),
        "--comfyui-url",
        replay.url,
        "--server-info",
    )
    assert result.returncode == 0, result.stderr
    assert "success" in result.stdout
    recording = load_recording(fixtures / "mine.jsonl")
    assert recording.status == 200 and recording.history is not None
    assert (fixtures / "object_info.json").exists() and list((fixtures / "output").glob("*.png"))
    with ReplayServer(fixtures, default="mine") as again:
        client = start_worker(again.url).client()
        wait_for(lambda: client.call("list_models")["models"], what="models from the recorded object_info")
        client.subscribe_job("replayed")
        client.wait_subscribed()
        client.call("generate", id="replayed", prompt="knight", size=[64, 64], steps=8)
        states = [e["to"] for t, e in client.follow("replayed", 10) if t.startswith("job.state.")]
    assert states == ["queued", "loading", "encoding", "sampling", "decoding", "saving", "done"]


def test_record_against_an_unreachable_comfyui_is_a_one_line_error(tmp_path):
    """No traceback from requests or websocket-client: one line naming the URL, the cause and the code."""
    url = _free_tcp().replace("tcp://", "http://")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    graph = str(REPO / "workflows" / "txt2img.json")
    result = _run(env, "record", graph, "--out", str(tmp_path / "x.jsonl"), "--comfyui-url", url, "--timeout", "5")
    assert result.returncode == 2
    assert result.stderr.startswith(f"pixflow: recording from {url} failed: ")
    assert result.stderr.rstrip().endswith("(recording_failed)") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_the_cli_does_not_import_the_dashboard():
    """The dashboard is a client of the worker: pixflow runs it as a process, never imports it."""
    code = (
        "import sys, pixflow.cli.main, pixflow.cli.demo; "
        "print(sorted(m for m in sys.modules if m == 'pixflow_monitor'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.stdout.strip() == "[]", result.stderr


def _read_terminal(fd: int, until: float) -> bytes:
    ready, _, _ = select.select([fd], [], [], max(0.0, min(0.5, until - time.monotonic())))
    if not ready:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:  # the child closed the terminal
        return b""


def test_demo_with_monitor_runs_the_dashboard_in_the_terminal_until_q(tmp_path):
    """`pixflow demo --monitor` in a real terminal: the dashboard shows the demo's jobs, q ends both."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the demo, on the pseudo-terminal
        os.environ.update({"PYTHONPATH": str(REPO), "TERM": "xterm-256color"})
        argv = [*PIXFLOW, "demo", "--monitor", "--speed", "0", "--jobs", "2", "--output-dir", str(tmp_path)]
        os.execv(sys.executable, argv)
    screen, deadline, exit_code = b"", time.monotonic() + 60, None
    try:
        while b"demo-2" not in re.sub(rb"\x1b\[[0-9;?]*[a-zA-Z]", b"", screen) and time.monotonic() < deadline:
            screen += _read_terminal(fd, deadline)
        assert b"demo-2" in re.sub(rb"\x1b\[[0-9;?]*[a-zA-Z]", b"", screen), screen[-2000:]
        os.write(fd, b"q")
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                exit_code = os.waitstatus_to_exitcode(status)
                break
            _read_terminal(fd, deadline)  # keep the terminal drained so the child never blocks on it
    finally:
        if exit_code is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert exit_code == 0, "the demo did not end after q" if exit_code is None else exit_code
