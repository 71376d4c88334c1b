"""What the benchmarks share: the worker as a real process, a bare echo server, timing helpers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixflow.client import Client, ClientError

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


def free_tcp() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{sock.getsockname()[1]}"


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class WorkerProcess:
    """`pixflow serve` in its own process, so its CPU time and memory can be read from /proc."""

    def __init__(self, directory: Path, comfyui_url: str, **settings: Any) -> None:
        self.req, self.pub = free_tcp(), free_tcp()
        values = {
            "comfyui_url": comfyui_url,
            "req_addr": self.req,
            "pub_addr": self.pub,
            "db_path": directory / "jobs.db",
            "output_dir": directory / "out",
            "log_level": "WARNING",
            **settings,
        }
        self.config = directory / "worker.yaml"
        self.config.write_text("".join(f"{key}: {value}\n" for key, value in values.items()))
        self.log = directory / "worker.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> WorkerProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pixflow.cli", "serve", "--config", str(self.config)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        with Client(self.req, self.pub, timeout=1) as client:
            wait_until(lambda: _pong(client), 30, f"the worker to answer (log: {self.log})")
            wait_until(lambda: client.call("list_models")["models"], 30, "the worker to reach the replay server")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def client(self, timeout: float = 10.0) -> Client:
        return Client(self.req, self.pub, timeout=timeout)


def _pong(client: Client) -> bool:
    try:
        return client.ping()["type"] == "pong"
    except ClientError:
        return False


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
