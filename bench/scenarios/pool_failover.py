"""Failover: a backend killed mid-job; how long until its job is done on another backend.

Two replay GPUs with the same checkpoint, each job RUN seconds long, `failover_after` FAILOVER seconds. One job
runs on each; the second GPU is stopped mid-job. The job it held cannot be done sooner than FAILOVER (pixflow
waits that long for the backend to come back) plus one job's length (it runs again from the start): that sum is
the baseline, and the figure is the time from the kill to the job's `done` on the other GPU.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.harness import REPO, Figure, WorkerProcess, wait_until
from bench.scenarios.pool_metrics import server_stats
from pixflow.client import Client
from pixflow.replay.models import BackendProfile
from pixflow.replay.pool import ReplayPool

FIXTURES = REPO / "fixtures" / "comfyui-0.3.75"
RUN = 1.0  # seconds a job runs on either GPU
FAILOVER = 2.0  # the worker's failover_after
MODEL = "a.safetensors"
TIMEOUT = 60.0


def _started_on(urls: list[str], index: int) -> bool:
    runs = server_stats(urls)[index]["runs"]
    return bool(runs) and runs[0]["started"] is not None


def pool_failover(directory: Path) -> list[Figure]:
    directory.mkdir(parents=True, exist_ok=True)
    profile = BackendProfile((MODEL,), run_seconds=RUN)
    with (
        ReplayPool(FIXTURES, [profile, profile], default="cached_all", speed=0.0) as pool,
        WorkerProcess(
            directory,
            pool.urls[0],
            backends=[{"name": f"gpu-{i + 1}", "url": url} for i, url in enumerate(pool.urls)],
            failover_after=FAILOVER,
            max_inflight=1,
        ) as worker,
        worker.client(timeout=30) as client,
    ):
        wait_until(lambda: all(b["models"] for b in client.status()["backends"]), 30, "both backends' models")
        for name in ("first", "second"):
            client.call("generate", id=name, prompt="pixel art knight", model=MODEL)
        wait_until(lambda: _started_on(pool.urls, 1), TIMEOUT, "the second GPU to start its job")
        victim = next(job for job in ("first", "second") if client.status(job)["backend"] == "gpu-2")
        killed = time.monotonic()
        pool[1].stop()
        wait_until(lambda: _done(client, victim), TIMEOUT, "the killed GPU's job to be done elsewhere")
        elapsed = time.monotonic() - killed
        job = client.status(victim)
    print(
        f"  pool failover: {victim} done on {job['backend']} {elapsed:.2f} s after the kill, attempts {job['attempts']}"
    )
    return [
        Figure(
            "pool failover: killed backend's job done elsewhere",
            elapsed,
            "s",
            "failover_after + one job",
            FAILOVER + RUN,
            "<= 1.10x",
        )
    ]


def _done(client: Client, job_id: str) -> bool:
    return bool(client.status(job_id)["state"] == "done")
