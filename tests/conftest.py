"""Shared fixtures: a replay ComfyUI on loopback, a worker on wildcard ports, a subscribed client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pixflow.replay.server import ReplayServer
from pixflow.testing import ThreadWorker, wait_for
from tests.helpers import FIXTURES, RECORDED


@pytest.fixture(autouse=True)
def _no_client_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that exports client keys (pixflow.cli.keys.export_key_args writes os.environ) must not make every
    later Client of this process speak CURVE to workers without keys."""
    for variable in ("PIXFLOW_SERVER_KEY", "PIXFLOW_CLIENT_KEY"):
        monkeypatch.delenv(variable, raising=False)


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
