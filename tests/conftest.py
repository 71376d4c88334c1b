"""Shared fixtures: a replay ComfyUI on loopback, a worker on wildcard ports, a subscribed client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pixflow.client import Client
from pixflow.replay_server import ReplayServer
from pixflow.testing import ThreadWorker, wait_for

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures" / "comfyui-0.3.75"  # recorded by hand, given to the project
RECORDED = REPO / "fixtures" / "recordings"  # recorded by `pixflow record` (e2e/record_fixtures.py)
TERMINAL = ("done", "failed", "cancelled")


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
def start_worker(tmp_path: Path) -> Iterator[Callable[..., ThreadWorker]]:
    started: list[ThreadWorker] = []

    def start(comfyui_url: str, **overrides: Any) -> ThreadWorker:
        started.append(ThreadWorker(tmp_path / f"worker-{len(started)}", comfyui_url, **overrides))
        return started[-1]

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def worker(replay: ReplayServer, start_worker: Callable[..., ThreadWorker]) -> ThreadWorker:
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
