"""Shared fixtures: a replay ComfyUI on loopback, a worker on wildcard ports, a subscribed client."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pixflow.client import Client
from pixflow.config import load_settings
from pixflow.replay_server import ReplayServer
from pixflow.worker import Worker

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures" / "comfyui-0.3.75"  # recorded by hand, given to the project
RECORDED = REPO / "fixtures" / "recordings"  # recorded by `pixflow record` (e2e/record_fixtures.py)
TERMINAL = ("done", "failed", "cancelled")


def wait_for(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01, what: str = "") -> Any:
    """Poll a condition until it is truthy; fail the test with `what` after the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")


@dataclass
class RunningWorker:
    worker: Worker
    thread: threading.Thread
    output_dir: Path
    clients: list[Client] = field(default_factory=list)

    def client(self, timeout: float = 5.0) -> Client:
        client = Client(self.worker.req_endpoint, self.worker.pub_endpoint, timeout=timeout)
        self.clients.append(client)
        return client

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.worker.stop()
        self.thread.join(10)
        assert not self.thread.is_alive(), "worker did not stop"


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    server = ReplayServer(FIXTURES, default="fresh", speed=0).start()
    yield server
    server.stop()


@pytest.fixture
def recorded_replay() -> Iterator[ReplayServer]:
    """The recordings pixflow's own recorder made from a real ComfyUI (two samplers, batches, ...)."""
    server = ReplayServer(RECORDED, default="txt2img_fresh", speed=0).start()
    yield server
    server.stop()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., RunningWorker]]:
    started: list[RunningWorker] = []

    def start(comfyui_url: str, **overrides: Any) -> RunningWorker:
        settings = load_settings(
            overrides={
                "comfyui_url": comfyui_url,
                "req_addr": "tcp://127.0.0.1:*",
                "pub_addr": "tcp://127.0.0.1:*",
                "output_dir": tmp_path / "output",
                "db_path": tmp_path / "pixflow.db",
                "stats_interval": 0.05,
                **overrides,
            },
            environ={},
        )
        worker = Worker(settings)
        thread = threading.Thread(target=worker.run, name="worker", daemon=True)
        thread.start()
        running = RunningWorker(worker, thread, settings.output_dir)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def worker(replay: ReplayServer, start_worker: Callable[..., RunningWorker]) -> RunningWorker:
    running = start_worker(replay.url)
    client = running.client()
    wait_for(lambda: client.call("list_models")["models"], what="the worker to learn the replay's models")
    return running


def run_job(client: Client, job_id: str, timeout: float = 10.0, **params: Any) -> list[tuple[str, dict[str, Any]]]:
    """Subscribe to a job, submit it, and collect its events until it ends."""
    client.subscribe_job(job_id)
    client.wait_subscribed()
    params.setdefault("prompt", "pixel art knight, 16-bit sprite")
    params.setdefault("size", [64, 64])
    params.setdefault("steps", 8)
    client.call("generate", id=job_id, **params)
    return list(client.follow(job_id, timeout))


def states_of(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [event["to"] for topic, event in events if topic.startswith("job.state.")]


def progress_of(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, int, int]]:
    return [(e["node"], e["value"], e["max"]) for topic, e in events if topic.startswith("job.progress.")]


def play_next(replay: ReplayServer, *recordings: str) -> None:
    replay.call(lambda state: state.playlist.extend(recordings))
