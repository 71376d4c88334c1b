"""A worker for tests and benchmarks: in a thread of this process, or as a real `pixflow serve` process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pixflow.client import Client, ClientError
from pixflow.serving.worker import Worker
from pixflow.settings import load_settings

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_tcp() -> str:
    """A loopback address with a port that was free a moment ago (for a process that must bind it itself)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{sock.getsockname()[1]}"


def wait_for(condition: Callable[[], Any], timeout: float = 5.0, what: str = "", interval: float = 0.01) -> Any:
    """Poll a condition until it is truthy and return its value; AssertionError naming `what` after the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")


def answers(client: Client) -> bool:
    try:
        return bool(client.ping()["type"] == "pong")
    except ClientError:
        return False


class ThreadWorker:
    """A Worker on wildcard loopback ports, run by a thread; its store and outputs under `directory`."""

    def __init__(self, directory: Path, comfyui_url: str, **settings: Any) -> None:
        self.settings = load_settings(
            overrides={
                "comfyui_url": comfyui_url,
                "req_addr": "tcp://127.0.0.1:*",
                "pub_addr": "tcp://127.0.0.1:*",
                "output_dir": directory / "output",
                "db_path": directory / "pixflow.db",
                "stats_interval": 0.05,
                "metrics_addr": "",  # off unless a test asks: many workers run at once
                **settings,
            },
            environ={},
        )
        self.worker = Worker(self.settings)
        self.output_dir = self.settings.output_dir
        self.thread = threading.Thread(target=self.worker.run, name="worker", daemon=True)
        self.thread.start()
        self._clients: list[Client] = []

    @property
    def req(self) -> str:
        return str(self.worker.req_endpoint)

    @property
    def pub(self) -> str:
        return str(self.worker.pub_endpoint)

    def client(self, timeout: float = 5.0) -> Client:
        client = Client(self.req, self.pub, timeout=timeout)
        self._clients.append(client)
        return client

    def stop(self) -> None:
        """Stop the worker and close the clients made here; a second call does nothing."""
        if not self.thread.is_alive():
            return
        for client in self._clients:
            client.close()
        self._clients.clear()
        self.worker.stop()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the worker did not stop"


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


class ServeProcess:
    """`pixflow serve --config FILE` in its own process: restartable on the same store, ports and outputs, and
    measurable (CPU time and memory from /proc)."""

    def __init__(self, directory: Path, comfyui_url: str, **settings: Any) -> None:
        self.req, self.pub = free_tcp(), free_tcp()
        self.output_dir = directory / "out"
        values = {
            "comfyui_url": comfyui_url,
            "req_addr": self.req,
            "pub_addr": self.pub,
            "db_path": directory / "jobs.db",
            "output_dir": self.output_dir,
            "metrics_addr": "",  # off unless a test asks (an empty value in the YAML file)
            **settings,
        }
        if "backends" in settings:  # a pool: `backends` replaces the single comfyui_url
            values.pop("comfyui_url")
        self.config = directory / "pixflow.yaml"
        self.write_config(values)
        self.log = directory / "worker.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._clients: list[Client] = []

    def write_config(self, values: dict[str, Any]) -> None:
        """The YAML file `serve` reads (again on SIGHUP): JSON is YAML, and says lists and maps plainly."""
        self.values = values
        self.config.write_text("".join(f"{key}: {json.dumps(_plain(value))}\n" for key, value in values.items()))

    def start(self, timeout: float = 30.0) -> Client:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-m", "pixflow", "serve", "--config", str(self.config)]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.config.parent
            )
        client = self.client(timeout=2.0)
        wait_for(lambda: answers(client), timeout, f"the worker to answer (log: {self.log})")
        return client

    def client(self, timeout: float = 10.0) -> Client:
        client = Client(self.req, self.pub, timeout=timeout)
        self._clients.append(client)
        return client

    def _close_clients(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the worker process was never started")
        return self.process.pid

    def kill9(self) -> None:
        assert self.process is not None, "the worker process was never started"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._close_clients()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._close_clients()

    def __enter__(self) -> ServeProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for process {self.pid}")
