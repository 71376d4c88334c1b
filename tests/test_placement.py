"""Placement between jobs of one priority, and never across priorities: the real Scheduler over backends whose
command queues are recorded (tests/loop_helpers.py), each offering its own checkpoints."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pixflow.comfy import messages as m
from pixflow.comfy.capabilities import Capabilities
from pixflow.jobs.dispatch import Phase
from pixflow.jobs.job import Job
from pixflow.jobs.store import JobStore
from pixflow.scheduling.scheduler import Scheduler
from pixflow.settings import load_settings
from pixflow.workflows import load_workflows
from pixflow.workflows.params import GenerateParams
from tests.helpers import REPO
from tests.loop_helpers import RecordingBackend, RecordingPublisher, finish

WORKFLOWS = load_workflows(REPO / "workflows")
OBJECT_INFO = Capabilities.from_object_info(json.loads((REPO / "fixtures/recordings/object_info.json").read_text()))
A, B, C = "model-a.safetensors", "model-b.safetensors", "model-c.safetensors"

Pool = tuple[Scheduler, dict[str, RecordingBackend]]


@pytest.fixture
def pool_of(tmp_path: Path) -> Iterator[Callable[..., Pool]]:
    """A scheduler over backends given as name -> checkpoints, each taking one prompt at a time."""
    stores: list[JobStore] = []

    def make(**checkpoints: frozenset[str]) -> Pool:
        entries = [{"name": name, "url": f"http://127.0.0.1:{9 + i}"} for i, name in enumerate(checkpoints)]
        overrides = {"db_path": tmp_path / "jobs.db", "output_dir": tmp_path / "out", "backends": entries}
        settings = load_settings(overrides={**overrides, "max_inflight": 1}, environ={})
        store = JobStore(settings.db_path)
        stores.append(store)
        scheduler = Scheduler(settings, WORKFLOWS, store, RecordingPublisher(), lambda message: None, lambda d, c: None)
        recorders = {}
        for name, offered in checkpoints.items():
            recorders[name] = RecordingBackend()
            scheduler.backends[name].backend = recorders[name]  # type: ignore[assignment]
            scheduler.on_message(m.BackendUp(name, f"client-{name}"))
            scheduler.on_message(m.BackendInfo(name, dataclasses.replace(OBJECT_INFO, checkpoints=offered)))
        return scheduler, recorders

    yield make
    for store in stores:
        store.close()


def _job(scheduler: Scheduler, job_id: str, model: str, priority: int = 0) -> Job:
    return scheduler.create_job(
        job_id, GenerateParams(prompt="knight", seed=1, model=model, priority=priority), WORKFLOWS["txt2img"]
    )


def _sent(recorder: RecordingBackend) -> list[str]:
    return [args[0] for args in recorder.named("submit")]


def _finish(scheduler: Scheduler, job_id: str) -> None:
    finish(scheduler, scheduler.find(job_id))


def _queue(scheduler: Scheduler, *jobs: tuple[str, str, int]) -> None:
    """Jobs that arrive together, while nothing is placed: the next dispatch sees them all."""
    scheduler.set_paused(True)
    for job_id, model, priority in jobs:
        _job(scheduler, job_id, model, priority)
    scheduler.set_paused(False)


def _after_a_job_of_a(pool_of: Any, *waiting: tuple[str, str, int]) -> tuple[Scheduler, list[str]]:
    """One backend (A and B) that has just run a job of A, so A is loaded; `waiting` arrive together, the A job
    ends, and the backend takes the next: what it was sent, in order."""
    scheduler, recorders = pool_of(gpu=frozenset({A, B}))
    _job(scheduler, "first-a", A)
    scheduler.dispatch()
    _queue(scheduler, *waiting)
    _finish(scheduler, "first-a")
    scheduler.dispatch()
    return scheduler, _sent(recorders["gpu"])


def test_a_later_job_of_the_same_priority_with_the_loaded_model_goes_first(pool_of: Any) -> None:
    scheduler, sent = _after_a_job_of_a(pool_of, ("needs-b", B, 0), ("also-a", A, 0))
    assert sent == ["first-a", "also-a"]  # no switch while a job for the loaded model waits
    assert scheduler.find("needs-b").phase == Phase.WAITING  # type: ignore[union-attr]


def test_a_job_needing_a_switch_is_never_passed_by_a_lower_priority_one(pool_of: Any) -> None:
    _, sent = _after_a_job_of_a(pool_of, ("low-a", A, 0), ("urgent-b", B, 5))
    assert sent == ["first-a", "urgent-b"]  # the switch, rather than a lower priority first


def test_a_backend_that_runs_more_models_leaves_the_narrower_ones_their_jobs(pool_of: Any) -> None:
    # wide runs A and B, narrow only B (busy). Waiting: two B, then three A. Whatever wide takes, the A jobs can
    # only run there: if it took a B now, narrow would later sit idle while wide still had A jobs to run.
    scheduler, recorders = pool_of(wide=frozenset({A, B}), narrow=frozenset({B}))
    scheduler.set_backend_mode("wide", scheduler.backends["wide"].mode.DISABLED)
    _job(scheduler, "busy-b", B)
    scheduler.dispatch()
    assert _sent(recorders["narrow"]) == ["busy-b"]
    scheduler.set_backend_mode("wide", scheduler.backends["wide"].mode.ACTIVE)
    _queue(scheduler, ("b1", B, 0), ("b2", B, 0), ("a1", A, 0), ("a2", A, 0), ("a3", A, 0))
    scheduler.dispatch()
    assert _sent(recorders["wide"]) == ["a1"]
    assert {scheduler.find(j).phase for j in ("b1", "b2")} == {Phase.WAITING}  # type: ignore[union-attr]
    _finish(scheduler, "busy-b")
    scheduler.dispatch()
    assert _sent(recorders["narrow"]) == ["busy-b", "b1"]


def test_a_split_never_keeps_a_higher_priority_job_from_a_free_backend(pool_of: Any) -> None:
    scheduler, recorders = pool_of(wide=frozenset({A, B}), narrow=frozenset({B}))
    scheduler.set_backend_mode("wide", scheduler.backends["wide"].mode.DISABLED)
    _job(scheduler, "busy-b", B)
    scheduler.dispatch()
    scheduler.set_backend_mode("wide", scheduler.backends["wide"].mode.ACTIVE)
    _queue(scheduler, ("urgent-b", B, 5), ("a1", A, 0), ("a2", A, 0), ("a3", A, 0))
    scheduler.dispatch()
    assert _sent(recorders["wide"]) == ["urgent-b"]


def test_a_held_job_displaced_by_a_better_one_takes_another_free_backend_before_a_lower_priority(
    pool_of: Any,
) -> None:
    every = frozenset({A, B, C})
    scheduler, recorders = pool_of(x=every, y=every)
    scheduler.set_backend_mode("y", scheduler.backends["y"].mode.DISABLED)
    _job(scheduler, "a-on-x", A)  # x has A loaded, and is the least recently used
    scheduler.dispatch()
    scheduler.set_backend_mode("y", scheduler.backends["y"].mode.ACTIVE)
    scheduler.set_backend_mode("x", scheduler.backends["x"].mode.DISABLED)
    _job(scheduler, "c-on-y", C)  # y has C loaded
    scheduler.dispatch()
    scheduler.set_backend_mode("x", scheduler.backends["x"].mode.ACTIVE)
    _finish(scheduler, "a-on-x")
    _finish(scheduler, "c-on-y")
    # urgent-b would switch either backend: it holds x (LRU) for a job that suits x better; urgent-a is one, so
    # urgent-b must take y at once, not leave it to low-c, whose priority is lower.
    _queue(scheduler, ("urgent-b", B, 5), ("urgent-a", A, 5), ("low-c", C, 0))
    scheduler.dispatch()
    assert _sent(recorders["x"]) == ["a-on-x", "urgent-a"]
    assert _sent(recorders["y"]) == ["c-on-y", "urgent-b"]
    assert scheduler.find("low-c").phase == Phase.WAITING  # type: ignore[union-attr]
