"""What the benchmarks share: the worker as a real process, a bare echo server, timing helpers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixflow.testing import REPO, ServeProcess, free_tcp
from pixflow.testing import wait_for as wait_until


@dataclass(frozen=True)
class Figure:
    """One measured figure next to its baseline from the same run."""

    name: str
    value: float
    unit: str
    baseline_name: str
    baseline: float | None
    target: str = ""

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class WorkerProcess(ServeProcess):
    """`pixflow serve` in its own process, ready once it has reached the replay server."""

    def __init__(self, directory: Path, comfyui_url: str, **settings: Any) -> None:
        super().__init__(directory, comfyui_url, **{"log_level": "WARNING", **settings})

    def __enter__(self) -> WorkerProcess:
        client = self.start()
        wait_until(lambda: client.call("list_models")["models"], 30, "the worker to reach the replay server")
        return self


class ReplayProcess:
    """The replay server in a process of its own, so it does not share a GIL with the load generator."""

    def __init__(self, recording: str = "cached_all") -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.host = "127.0.0.1"
        self.url = f"http://127.0.0.1:{self.port}"
        self.recording = recording
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> ReplayProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        command = [
            sys.executable,
            "-m",
            "pixflow.cli",
            "replay",
            "--port",
            str(self.port),
            "--speed",
            "0",
            "--recording",
            self.recording,
            "--log-level",
            "WARNING",
        ]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import requests

        wait_until(lambda: _answers(requests, f"{self.url}/system_stats"), 20, "the replay server")
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _answers(requests: Any, url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


ECHO_SERVER = """
import sys, zmq
socket = zmq.Context.instance().socket(zmq.ROUTER)
socket.bind(sys.argv[1])
print("ready", flush=True)
while True:
    socket.send_multipart(socket.recv_multipart())
"""


class EchoServer:
    """The floor of the stack: a bare pyzmq ROUTER that sends every request straight back."""

    def __init__(self) -> None:
        self.addr = free_tcp()
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> EchoServer:
        self.process = subprocess.Popen(
            [sys.executable, "-c", ECHO_SERVER, self.addr], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout.readline().strip() == "ready"
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait(10)
