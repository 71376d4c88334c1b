"""A soak (`./dev bench soak`, on demand): 100,000 jobs in a steady stream on the zero-delay replay, the worker's
RSS sampled every 10,000 jobs. The figure: growth between 50,000 and 100,000 jobs (target ≤ 5 %)."""

from __future__ import annotations

import time
from pathlib import Path

from bench.harness import Figure, ReplayProcess, WorkerProcess
from bench.scenarios.common import stream_jobs
from pixflow.replay.server import ReplayServer

JOBS = 100_000
EVERY = 10_000
WINDOW = 200  # jobs outstanding at once


def soak(directory: Path, _: ReplayServer, jobs: int = JOBS) -> list[Figure]:
    with ReplayProcess("cached_all") as replay:
        curve = run_stream(directory, replay, jobs)
    half = next(row for row in curve if row[0] >= jobs // 2)
    last = curve[-1]
    first = curve[1]
    cpu_ms = (last[2] - first[2]) * 1000 / (last[0] - first[0])
    return [
        Figure(f"soak: RSS after {last[0]:,} jobs", last[3], "MB", f"RSS after {half[0]:,} jobs", half[3], "<= 1.05x"),
        Figure(f"soak: RSS after {half[0]:,} jobs", half[3], "MB", "RSS at start", curve[0][3]),
        Figure(f"soak: worker CPU per job ({first[0]:,} to {last[0]:,})", cpu_ms, "ms", "(none)", None),
    ]


def run_stream(directory: Path, replay: ReplayProcess, jobs: int) -> list[tuple[int, float, float, float]]:
    """(jobs done, seconds, worker CPU seconds, worker RSS MB) at the start and every EVERY jobs."""
    with WorkerProcess(directory, replay.url, max_queued=WINDOW * 2) as worker, worker.client(timeout=60) as client:
        client.subscribe(b"job.state.")
        client.wait_subscribed()
        start = time.perf_counter()
        curve = [(0, 0.0, worker.cpu_seconds(), worker.rss_mb())]

        def sample(done: int) -> None:
            if done % EVERY == 0:
                curve.append((done, time.perf_counter() - start, worker.cpu_seconds(), worker.rss_mb()))
                n, seconds, cpu, rss = curve[-1]
                print(f"  soak: {n:,} jobs, {seconds:.1f} s, CPU {cpu:.1f} s, RSS {rss:.1f} MB", flush=True)

        stream_jobs(worker.req, client, jobs, WINDOW, "soak", sample)
    return curve
