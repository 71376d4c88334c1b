"""Helpers the tests share: fixture folders, running one job, and reading its events."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pixflow.client import Client
from pixflow.replay.models import BackendProfile
from pixflow.replay.pool import ReplayPool
from pixflow.replay.server import ReplayServer
from pixflow.testing import ThreadWorker, wait_for
from pixflow.vocabulary import STAGE_NAMES, TERMINAL_STATES, TOPIC_PROGRESS, TOPIC_STATE, JobState

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures" / "comfyui-0.3.75"  # recorded by hand, given to the project
RECORDED = REPO / "fixtures" / "recordings"  # recorded by `pixflow record` (e2e/record_fixtures.py)
# The states of a job that runs every stage once and succeeds.
FULL_RUN = [JobState.QUEUED.value, *STAGE_NAMES, JobState.DONE.value]

__all__ = [
    "FIXTURES",
    "FULL_RUN",
    "RECORDED",
    "REPO",
    "TERMINAL_STATES",
    "TOPIC_PROGRESS",
    "TOPIC_STATE",
    "play_next",
    "progress_of",
    "run_job",
    "states_of",
    "wait_for",
]


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
    return [event["to"] for topic, event in events if topic.startswith(TOPIC_STATE)]


def progress_of(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, int, int]]:
    return [(e["node"], e["value"], e["max"]) for topic, e in events if topic.startswith(TOPIC_PROGRESS)]


def play_next(replay: ReplayServer, *recordings: str) -> None:
    replay.call(lambda state: state.playlist.extend(recordings))


def backends_of(servers: Iterable[ReplayServer]) -> list[dict[str, str]]:
    """`backends:` settings naming each replay server gpu0, gpu1, ... in order."""
    return [{"name": f"gpu{i}", "url": server.url} for i, server in enumerate(servers)]


def wait_for_every_backend(client: Client, timeout: float = 10.0) -> None:
    wait_for(lambda: all(b["models"] for b in client.status()["backends"]), timeout, "every backend's models")


@contextmanager
def pool_worker(directory: Path, *profiles: BackendProfile, **settings: Any) -> Iterator[ThreadWorker]:
    """A worker over a pool of replay GPUs (gpu0, gpu1, ...), once it knows what each offers."""
    with ReplayPool(FIXTURES, list(profiles)) as pool:
        running = ThreadWorker(directory, pool[0].url, backends=backends_of(pool), **settings)
        try:
            wait_for_every_backend(running.client())
            yield running
        finally:
            running.stop()
