"""A pool of GPUs: 200 jobs over four replay backends with different checkpoints, one three times slower, each
paying for a model switch (pool_setup.py). pixflow, as a real `pixflow serve` process configured with the four
backends and reached only through its protocol, next to two baselines run in the same process against the same
kind of pool with no pixflow (pool_direct.py), and the lower bound of total work over capacity.

Each policy gets a fresh pool (nothing loaded, counters at zero). Figures come from the servers' records.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from bench.harness import REPO, Figure, WorkerProcess, wait_until
from bench.scenarios.pool_direct import RUN_TIMEOUT, first_free, round_robin
from bench.scenarios.pool_failover import pool_failover
from bench.scenarios.pool_metrics import Outcome, server_stats
from bench.scenarios.pool_setup import GPUS, Gpu, PoolJob, lower_bound, make_jobs
from pixflow.client import Client
from pixflow.replay.pool import ReplayPool
from pixflow.replay.server import ReplayServer
from pixflow.vocabulary import TERMINAL_STATES

FIXTURES = REPO / "fixtures" / "comfyui-0.3.75"
RECORDING = "cached_all"  # no recorded delays at speed 0: a job's length is the profile's run_seconds


class PoolWorker(WorkerProcess):
    """`pixflow serve` with `backends: [{name, url}, ...]` (pixflow/config.py)."""

    def __init__(self, directory: Path, gpus: tuple[Gpu, ...], urls: list[str], **settings: Any) -> None:
        super().__init__(directory, urls[0], max_queued=10_000, **settings)
        values = yaml.safe_load(self.config.read_text())
        del values["comfyui_url"]  # it would stand for the backends list
        values["backends"] = [{"name": gpu.name, "url": url} for gpu, url in zip(gpus, urls, strict=True)]
        self.config.write_text(yaml.safe_dump(values))


def _every_backend_ready(client: Client, gpus: tuple[Gpu, ...]) -> bool:
    per_backend = client.call("list_models").get("backends") or {}
    return all(set(per_backend.get(gpu.name) or ()) == gpu.checkpoints for gpu in gpus)


def run_pixflow(directory: Path, pool: ReplayPool, gpus: tuple[Gpu, ...], jobs: list[PoolJob]) -> Outcome:
    with PoolWorker(directory, gpus, pool.urls) as worker, worker.client(timeout=30) as client:
        wait_until(lambda: _every_backend_ready(client, gpus), 30, "pixflow to read every backend's checkpoints")
        client.subscribe(b"job.state.")
        client.wait_subscribed()
        client.call("pause")  # the whole batch is queued before placement starts, as the baselines see it
        for job in jobs:  # in arrival order: pixflow orders them by priority itself
            client.call("generate", id=job.job_id, prompt="pixel art knight", model=job.model, priority=job.priority)
        begin = time.monotonic()
        client.call("resume")
        ended: dict[str, str] = {}
        while len(ended) < len(jobs):
            _topic, event = client.next_event(RUN_TIMEOUT, want=lambda _t, e: e.get("to") in TERMINAL_STATES)
            ended[event["job_id"]] = event["to"]
        prompt_of = {job.job_id: str(client.status(job.job_id)["prompt_id"]) for job in jobs}
        stats = server_stats(pool.urls)
    failed = sum(1 for state in ended.values() if state != "done")
    submitted = dict.fromkeys((job.job_id for job in jobs), begin)
    return Outcome("pixflow", jobs, submitted, prompt_of, stats, failed)


def _fresh_pool() -> ReplayPool:
    return ReplayPool(FIXTURES, [gpu.profile for gpu in GPUS], default=RECORDING, speed=0.0)


def run_all(directory: Path, jobs: list[PoolJob]) -> dict[str, Outcome]:
    outcomes = {}
    with _fresh_pool() as pool:
        outcomes["round-robin"] = round_robin(pool, GPUS, jobs)
    with _fresh_pool() as pool:
        outcomes["first free"] = first_free(pool, GPUS, jobs)
    with _fresh_pool() as pool:
        outcomes["pixflow"] = run_pixflow(directory, pool, GPUS, jobs)
    return outcomes


def pool_placement(directory: Path, _: ReplayServer) -> list[Figure]:
    jobs = make_jobs()
    outcomes = run_all(directory, jobs)
    bound = lower_bound(jobs)
    _print_details(outcomes, bound)
    return figures(outcomes, bound) + pool_failover(directory / "failover")


def figures(outcomes: dict[str, Outcome], bound: float) -> list[Figure]:
    mine, rr, ff = outcomes["pixflow"], outcomes["round-robin"], outcomes["first free"]
    better = min(rr.makespan(), ff.makespan())
    rr_name, ff_name = "round-robin, no pixflow", "first free GPU, no pixflow"

    def idle(outcome: Outcome) -> float:
        shares = outcome.idle_shares(GPUS)
        return 100 * sum(shares) / len(shares)

    return [
        Figure("pool jobs not done", mine.failed, "jobs", rr_name, rr.failed, "0"),  # else the rest do not compare
        Figure("pool makespan", mine.makespan(), "s", "lower bound: work / capacity", bound, "<= 1.10x"),
        Figure("pool makespan", mine.makespan(), "s", rr_name, rr.makespan()),
        Figure("pool makespan", mine.makespan(), "s", ff_name, ff.makespan(), f"<= better baseline ({better:.1f} s)"),
        Figure("pool model switches", mine.switches(), "", rr_name, rr.switches(), "<= 0.5x"),
        Figure("pool model switches", mine.switches(), "", ff_name, ff.switches()),
        Figure("pool GPU idle while a job it could run waited", idle(mine), "% (mean)", rr_name, idle(rr)),
        Figure("pool GPU idle while a job it could run waited", idle(mine), "% (mean)", ff_name, idle(ff)),
        Figure("pool queue wait p95", mine.p95_queue_wait(), "s", rr_name, rr.p95_queue_wait()),
        Figure("pool queue wait p95", mine.p95_queue_wait(), "s", ff_name, ff.p95_queue_wait()),
    ]


def _print_details(outcomes: dict[str, Outcome], bound: float) -> None:
    print(f"  pool: lower bound {bound:.2f} s (work / capacity)")
    for name, outcome in outcomes.items():
        if outcome.failed:  # e.g. placed on a GPU without its model, and refused there
            print(f"  pool {name}: {outcome.failed} jobs not done: its figures cover only the jobs that ran")
    for name, outcome in outcomes.items():
        idle = " ".join(
            f"{gpu.name} {100 * share:.0f}%" for gpu, share in zip(GPUS, outcome.idle_shares(GPUS), strict=True)
        )
        ran = " ".join(f"{gpu.name} {stats['prompts_run']}" for gpu, stats in zip(GPUS, outcome.stats, strict=True))
        print(
            f"  pool {name}: makespan {outcome.makespan():.2f} s, switches {outcome.switches()} "
            f"(loads {outcome.loads()}), p95 wait {outcome.p95_queue_wait():.2f} s, not done {outcome.failed}; "
            f"prompts run: {ran}; idle while work waited: {idle}",
            flush=True,
        )
