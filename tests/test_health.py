"""`pixflow health`: exit codes 0/1/2 against a real worker on the replay server, and with nothing listening."""

from __future__ import annotations

import json
import subprocess
import sys

from pixflow.replay.server import ReplayServer
from pixflow.testing import REPO, free_tcp, wait_for
from tests.helpers import FIXTURES


def _health(req: str, pub: str, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pixflow", "health", "--req-addr", req, "--pub-addr", pub, *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, env={"PYTHONPATH": str(REPO)})


def test_healthy_then_degraded_when_paused_and_when_the_backend_goes_down(worker):
    client = worker.client()
    wait_for(lambda: all(b["up"] for b in client.status()["backends"]), what="the backend to be up")
    healthy = _health(worker.req, worker.pub)
    assert healthy.returncode == 0, healthy.stdout
    lines = healthy.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["ok"] * len(lines)
    assert any("backend local" in line for line in lines)
    assert any(line.split()[1] == "queue" and "0 of 10000 waiting" in line for line in lines)

    client.call("pause")
    paused = _health(worker.req, worker.pub, "--json")
    assert paused.returncode == 1
    report = json.loads(paused.stdout)
    assert report["status"] == "degraded"
    assert {c["name"]: c["ok"] for c in report["checks"]}["dispatch"] is False
    client.call("resume")


def test_no_backend_taking_new_prompts_is_degraded(worker):
    """The only backend drained (or disabled) is up, but a new job cannot run: not healthy."""
    client = worker.client()
    wait_for(lambda: all(b["up"] for b in client.status()["backends"]), what="the backend to be up")
    client.call("drain", backend="local")
    result = _health(worker.req, worker.pub)
    assert result.returncode == 1, result.stdout
    failing = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1 and failing[0].split()[1] == "capacity" and "no backend takes new prompts" in failing[0]
    backend = next(line for line in result.stdout.splitlines() if "backend local" in line)
    assert "draining: takes no new prompts (pixflow enable local)" in backend
    client.call("enable", backend="local")
    assert _health(worker.req, worker.pub).returncode == 0


def test_a_backend_down_is_degraded(start_worker, tmp_path):
    server = ReplayServer(FIXTURES, default="fresh", speed=0).start()
    running = start_worker(server.url)
    client = running.client()
    wait_for(lambda: client.status()["backends"][0]["up"], what="the backend to be up")
    server.stop()
    wait_for(lambda: client.status()["backends"][0]["up"] is False, 15, "the backend to be seen down")
    result = _health(running.req, running.pub)
    assert result.returncode == 1
    failing = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 2 and "backend local" in failing[0] and "down:" in failing[0]
    assert failing[1].split()[1] == "capacity"  # the only backend: no job can run


def test_the_queue_near_its_limit_is_degraded(replay, start_worker):
    running = start_worker(replay.url, max_queued=2)
    client = running.client()
    client.call("pause")
    client.call("generate", id="q1", prompt="knight", size=[64, 64], steps=8)
    client.call("generate", id="q2", prompt="knight", size=[64, 64], steps=8)
    report = json.loads(_health(running.req, running.pub, "--json").stdout)
    queue = next(check for check in report["checks"] if check["name"] == "queue")
    assert queue == {"name": "queue", "ok": False, "detail": "2 of 2 waiting (near full)"}


def test_nothing_listening_is_exit_2_within_the_timeout():
    result = _health(free_tcp(), free_tcp(), "--timeout", "0.5", "--json")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["status"] == "down" and report["checks"][0]["name"] == "worker"
    assert "no answer" in report["checks"][0]["detail"]


def test_health_imports_the_client_only():
    probe = (
        "import sys\n"
        "from pixflow.cli.main import main\n"
        "code = main(['health', '--req-addr', sys.argv[1], '--pub-addr', sys.argv[2], '--timeout', '0.3'])\n"
        "heavy = sorted(m for m in sys.modules\n"
        "    if m.split('.')[0] in ('aiohttp', 'textual', 'pixflow_monitor', 'websocket')\n"
        "    or m.startswith(('pixflow.serving', 'pixflow.scheduling', 'pixflow.comfy', 'pixflow.jobs')))\n"
        "print(code, heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, free_tcp(), free_tcp()],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PYTHONPATH": str(REPO)},
    )
    assert result.stdout.splitlines()[-1] == "2 []", result.stdout + result.stderr
