"""`pixflow demo --web`: the demo with `pixflow web` on a free loopback port, its console URL printed, until Ctrl-C."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytest.importorskip("aiohttp")

REPO = Path(__file__).resolve().parent.parent
URL = re.compile(r"web console at (http://127\.0\.0\.1:\d+)/")


def _read_until(child: subprocess.Popen[bytes], pattern: re.Pattern[str], timeout: float) -> tuple[str, re.Match[str]]:
    assert child.stdout is not None
    seen, deadline = "", time.monotonic() + timeout
    while (match := pattern.search(seen)) is None:
        left = deadline - time.monotonic()
        assert left > 0 and child.poll() is None, f"no {pattern.pattern!r} (exit {child.poll()}): {seen[-2000:]}"
        ready, _, _ = select.select([child.stdout], [], [], min(left, 0.5))
        if ready:
            chunk = os.read(child.stdout.fileno(), 65536)
            seen += chunk.decode(errors="replace")
    return seen, match


def test_demo_web_serves_the_console_on_the_demos_worker_until_ctrl_c(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "pixflow", "demo", "--web", "--speed", "0", "--output-dir", str(tmp_path)]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        _, match = _read_until(child, URL, 20)
        url = match.group(1)
        page = requests.get(url + "/", timeout=5)
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
        worker = requests.get(url + "/v1/worker", timeout=5)  # no token: loopback without a tokens file is admin
        assert worker.status_code == 200, worker.text
        assert "backends" in worker.json() or "queue" in worker.json(), worker.json()
        _read_until(child, re.compile(r"stays at"), 20)  # the jobs ended, the console stays
        assert requests.get(url + "/v1/jobs", timeout=5).json()["jobs"], "the console should list the demo's jobs"
        child.send_signal(signal.SIGINT)
        assert child.wait(15) == 0
        with pytest.raises(requests.ConnectionError):  # the web server ended with the demo
            requests.get(url + "/v1/health", timeout=2)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
