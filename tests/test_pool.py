"""A pool of backends (docs/pool.md): placement by model, jobs that wait with a reason, failover, drain, cancel.

Each backend is a replay server with its own checkpoints and run length (pixflow.replay.models); the worker
talks to them over real HTTP and WebSocket, exactly as to a pool of ComfyUI servers.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pixflow.client import Client
from pixflow.replay.models import BackendProfile
from pixflow.replay.pool import ReplayPool
from pixflow.replay.server import ReplayServer
from pixflow.testing import ServeProcess, ThreadWorker
from tests.helpers import FIXTURES, TERMINAL_STATES, backends_of, wait_for, wait_for_every_backend

A, B, C = "a.safetensors", "b.safetensors", "c.safetensors"
POOL_SETTINGS = {"failover_after": 0.5, "stats_interval": 0.05, "info_refresh_interval": 60.0}


def stats(server: ReplayServer) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.url}/replay/stats", timeout=5) as answer:
        return dict(json.load(answer))


@pytest.fixture
def pool_of() -> Iterator[Callable[..., ReplayPool]]:
    started: list[ReplayPool] = []

    def start(*profiles: BackendProfile) -> ReplayPool:
        started.append(ReplayPool(FIXTURES, list(profiles)).start())
        return started[-1]

    yield start
    for pool in started:
        pool.stop()


def pool_worker(start_worker: Callable[..., ThreadWorker], *servers: ReplayServer, **settings: Any) -> Client:
    running = start_worker(servers[0].url, backends=backends_of(servers), **{**POOL_SETTINGS, **settings})
    client = running.client()
    wait_for_every_backend(client)
    return client


def finish(client: Client, job_ids: list[str], timeout: float = 20.0) -> list[dict[str, Any]]:
    def ended() -> list[dict[str, Any]] | None:
        jobs = [client.status(job_id) for job_id in job_ids]
        return jobs if all(job["state"] in TERMINAL_STATES for job in jobs) else None

    jobs: list[dict[str, Any]] = wait_for(ended, timeout, f"jobs {job_ids} to end")
    return jobs


def backend(client: Client, name: str) -> dict[str, Any]:
    return next(b for b in client.status()["backends"] if b["name"] == name)


def test_each_job_runs_only_where_its_model_is(pool_of, start_worker):
    pool = pool_of(BackendProfile((A, B)), BackendProfile((C,)))
    client = pool_worker(start_worker, *pool)
    ids = [client.generate("knight", id=f"job-{i}", model=model, size=[64, 64]) for i, model in enumerate([A, C] * 4)]
    jobs = finish(client, ids)
    assert [job["state"] for job in jobs] == ["done"] * 8
    assert [job["backend"] for job in jobs] == ["gpu0", "gpu1"] * 4
    assert stats(pool[0])["prompts_run"] == 4 and stats(pool[1])["prompts_run"] == 4
    figures = backend(client, "gpu1")
    assert figures["loaded_model"] == C and figures["jobs_done"] == 4 and figures["model_switches"] == 0
    assert figures["seconds_per_job"] is not None and figures["state"] == "up"


def test_fewer_model_switches_than_jobs_when_models_alternate(pool_of, start_worker):
    pool = pool_of(BackendProfile((A, B)), BackendProfile((A, B)))
    client = pool_worker(start_worker, *pool)
    client.call("pause")
    ids = [client.generate("knight", id=f"alt-{i}", model=model, size=[64, 64]) for i, model in enumerate([A, B] * 5)]
    client.call("resume")
    assert [job["state"] for job in finish(client, ids)] == ["done"] * 10
    switches = sum(stats(server)["model_switches"] for server in pool)
    assert switches <= 2, f"{switches} switches: each backend should keep to one model"


def test_a_job_whose_only_capable_backend_is_down_waits_and_says_why(pool_of, start_worker):
    pool = pool_of(BackendProfile((A,)), BackendProfile((C,)))
    client = pool_worker(start_worker, *pool)
    port = pool[1].port
    pool[1].stop()
    wait_for(lambda: not backend(client, "gpu1")["up"], 10, "gpu1 to be seen down")
    client.generate("knight", id="needs-c", model=C, size=[64, 64])
    job = wait_for(lambda: (j := client.status("needs-c"))["wait_reason"] and j, 5, "a wait reason")
    assert job["state"] == "queued" and "gpu1 down" in job["wait_reason"], job["wait_reason"]
    assert client.generate("knight", id="needs-a", model=A, size=[64, 64])  # the other backend goes on meanwhile
    assert finish(client, ["needs-a"])[0]["state"] == "done"
    revived = ReplayServer(FIXTURES, speed=0, port=port, profile=BackendProfile((C,))).start()
    try:
        [job] = finish(client, ["needs-c"])
        assert job["state"] == "done" and job["backend"] == "gpu1" and job["wait_reason"] is None
    finally:
        revived.stop()


def test_a_dead_backends_job_finishes_on_another_once(pool_of, start_worker):
    slow = BackendProfile((A,), run_seconds=30.0)
    pool = pool_of(BackendProfile((A,)), slow)
    client = pool_worker(start_worker, *pool)
    client.call("drain", backend="gpu0")
    client.generate("knight", id="stranded", model=A, size=[64, 64])
    wait_for(lambda: stats(pool[1])["runs"] and stats(pool[1])["runs"][0]["started"], 10, "gpu1 to start it")
    first = client.status("stranded")
    assert first["backend"] == "gpu1"
    reply = client.call("enable", backend="gpu0")
    assert reply["type"] == "backend" and reply["state"] == "up"
    pool[1].stop()  # killed mid-job
    [job] = finish(client, ["stranded"], timeout=15)
    assert job["state"] == "done" and job["backend"] == "gpu0" and job["attempts"] == 2
    assert job["prompt_id"] != first["prompt_id"]  # anything the dead copy still sends is not this job's
    assert len(job["outputs"]) == 1 and stats(pool[0])["prompts_run"] == 1


def test_cancelling_a_job_whose_backend_is_down_ends_it_at_once(pool_of, start_worker):
    pool = pool_of(BackendProfile((A,), run_seconds=30.0))
    client = pool_worker(start_worker, *pool, failover_after=60.0)
    client.generate("knight", id="doomed", model=A, size=[64, 64])
    wait_for(lambda: stats(pool[0])["runs"] and stats(pool[0])["runs"][0]["started"], 10, "the run to start")
    pool[0].stop()
    wait_for(lambda: not backend(client, "gpu0")["up"], 10, "gpu0 to be seen down")
    assert client.cancel("doomed")["state"] == "cancelled"


def test_drain_sends_new_jobs_elsewhere_and_enable_takes_them_again(pool_of, start_worker):
    pool = pool_of(BackendProfile((A,)), BackendProfile((A,)))
    client = pool_worker(start_worker, *pool)
    drained = client.call("drain", backend="gpu0")
    assert drained["state"] == "draining" and drained["mode"] == "draining"
    ids = [client.generate("knight", id=f"d-{i}", model=A, size=[64, 64]) for i in range(4)]
    assert {job["backend"] for job in finish(client, ids)} == {"gpu1"}
    client.call("disable", backend="gpu1")
    client.call("enable", backend="gpu0")
    ids = [client.generate("knight", id=f"e-{i}", model=A, size=[64, 64]) for i in range(2)]
    assert {job["backend"] for job in finish(client, ids)} == {"gpu0"}
    with pytest.raises(Exception, match="no backend named"):
        client.call("drain", backend="gpu9")


def test_a_worker_restarted_without_a_backend_places_its_jobs_on_the_others(pool_of, tmp_path):
    pool = pool_of(BackendProfile((A,)), BackendProfile((A,), run_seconds=30.0))
    worker = ServeProcess(tmp_path, pool[0].url, backends=backends_of(pool), **POOL_SETTINGS)
    client = worker.start()
    try:
        wait_for(lambda: all(b["models"] for b in client.status()["backends"]), 10, "both backends' models")
        client.call("drain", backend="gpu0")
        client.generate("knight", id="orphan", model=A, size=[64, 64])
        wait_for(lambda: client.status("orphan")["backend"] == "gpu1", 10, "the job on gpu1")
        worker.kill9()
        worker.write_config({**worker.values, "backends": backends_of([pool[0]])})  # gpu1 is gone from the settings
        client = worker.start()
        [job] = finish(client, ["orphan"])
        assert job["state"] == "done" and job["backend"] == "gpu0" and job["attempts"] == 2
        assert [b["name"] for b in client.status()["backends"]] == ["gpu0"]
    finally:
        worker.stop()


def test_sighup_reads_the_backends_again(pool_of, tmp_path):
    pool = pool_of(BackendProfile((A,)), BackendProfile((C,)))
    worker = ServeProcess(tmp_path, pool[0].url, backends=backends_of([pool[0]]), **POOL_SETTINGS)
    client = worker.start()
    try:
        worker.write_config({**worker.values, "backends": backends_of(pool)})
        os.kill(worker.pid, signal.SIGHUP)
        added = wait_for(lambda: [b for b in client.status()["backends"] if b["name"] == "gpu1" and b["models"]], 10)
        assert added[0]["up"] and added[0]["state"] == "up"
        assert finish(client, [client.generate("slime", id="on-c", model=C, size=[64, 64])])[0]["backend"] == "gpu1"
        worker.write_config({**worker.values, "backends": [{"name": "gpu1", "url": pool[1].url}]})
        os.kill(worker.pid, signal.SIGHUP)
        wait_for(lambda: [b["name"] for b in client.status()["backends"]] == ["gpu1"], 10, "gpu0 to leave the pool")
        assert client.call("ping")["type"] == "pong"
    finally:
        worker.stop()


def test_backend_events_carry_current_figures(pool_of, start_worker):
    pool = pool_of(BackendProfile((A,), run_seconds=30.0))
    client = pool_worker(start_worker, *pool, failover_after=60.0)
    client.subscribe("backend.")
    client.wait_subscribed()
    client.generate("knight", id="busy", model=A, size=[64, 64])
    _, event = client.next_event(10, want=lambda topic, e: topic == "backend.gpu0" and e.get("inflight") == 1)
    assert event["loaded_model"] == A and event["max_inflight"] == 2
    client.cancel("busy")
    client.next_event(10, want=lambda topic, e: topic == "backend.gpu0" and e.get("inflight") == 0)
