"""systemd: the worker's notifications on a real unix datagram socket, and the units checked by
`systemd-analyze verify` (Debian's `systemd` package, installed when missing)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pixflow.client import Client
from pixflow.testing import REPO, ServeProcess, answers
from tests.system_packages import ensure

UNITS = REPO / "deploy" / "systemd"


def _receive(sock: socket.socket, wanted: str, timeout: float) -> list[str]:
    """Datagrams until one holds the line `wanted` (each is one sd_notify call)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            seen.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if wanted in seen[-1].splitlines():
            return seen
    raise AssertionError(f"no {wanted} within {timeout}s; got {seen}")


def test_ready_after_serving_watchdog_from_the_loop_and_stopping_on_sigterm(tmp_path, replay):
    process = ServeProcess(tmp_path, replay.url)
    address = str(tmp_path / "notify.sock")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"}
    env.pop("WATCHDOG_PID", None)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        command = [sys.executable, "-m", "pixflow", "serve", "--config", str(process.config)]
        with process.log.open("a") as log:
            child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            before = _receive(sock, "READY=1", 30)
            assert not any("WATCHDOG=1" in message for message in before)
            with Client(process.req, process.pub, timeout=2) as client:
                assert answers(client)  # READY=1 means serving: the first request is answered
            watchdogs = _receive(sock, "WATCHDOG=1", 2) + _receive(sock, "WATCHDOG=1", 2)
            assert watchdogs[-1] == "WATCHDOG=1"
            child.send_signal(signal.SIGTERM)
            assert "STOPPING=1" in _receive(sock, "STOPPING=1", 10)[-1].splitlines()
            assert child.wait(30) == 0
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)


def _analyze() -> str:
    binary = ensure("systemd-analyze", "systemd")
    try:
        subprocess.run([binary, "--version"], capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as e:  # only where the binary cannot run at all
        pytest.skip(f"systemd-analyze is installed but cannot run here: {e}")
    return binary


@pytest.mark.timeout(900)
@pytest.mark.parametrize("unit", ["pixflow.service", "comfyui@.service", "comfyui@1.service"])
def test_units_pass_systemd_analyze_verify(tmp_path: Path, unit: str) -> None:
    binary = _analyze()
    # verify checks that ExecStart's program exists: point the install paths at this checkout's.
    text = (UNITS / unit.replace("@1", "@")).read_text()
    text = text.replace("/opt/pixflow/.venv/bin/pixflow", str(REPO / ".venv" / "bin" / "pixflow"))
    text = text.replace("/opt/comfyui/.venv/bin/python", sys.executable)
    (tmp_path / unit).write_text(text)
    result = subprocess.run(
        [binary, "verify", "--man=no", str(tmp_path / unit)], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr.strip()) == (0, ""), result.stderr
