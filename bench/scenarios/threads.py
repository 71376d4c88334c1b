"""The worker's threads with 1, 8 and 40 replay backends: a fixed set (pixflow/comfy/threads.py), not a few per backend.

Each count is read from /proc/<pid>/task of the `pixflow serve` process (Python's threads and the C ones: ZeroMQ's
I/O thread and reaper) once every backend is up and a few jobs have run. The baseline is the tree before the shared
threads, computed: five threads per backend (a socket opener, a control thread, three download threads) on top of
what the worker runs besides its backends' threads (the count less the shared backend threads, `SHARED`).
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.harness import REPO, Figure, WorkerProcess, wait_until
from bench.scenarios.common import stream_jobs
from pixflow.replay.models import BackendProfile
from pixflow.replay.pool import ReplayPool
from pixflow.replay.server import ReplayServer

POOL_SIZES = (1, 8, 40)
OLD_PER_BACKEND = 5  # ws-NAME, http-NAME, fetch-NAME-0..2
SHARED = 7  # the opener, 4 control threads, 2 file writers (comfy/threads.py)
JOBS = 40
FIXTURES = REPO / "fixtures" / "comfyui-0.3.75"


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _count(directory: Path, backends: int) -> int:
    directory.mkdir(parents=True)
    with ReplayPool(FIXTURES, [BackendProfile()] * backends) as pool:
        named = [{"name": f"gpu{i}", "url": server.url} for i, server in enumerate(pool)]
        with WorkerProcess(directory, pool.servers[0].url, backends=named) as worker, worker.client(30) as client:
            wait_until(lambda: all(b["up"] and b["models"] for b in client.status()["backends"]), 60, "every backend")
            client.subscribe(b"job.state.")
            client.wait_subscribed()
            seen = _threads(worker.pid)
            stream_jobs(worker.req, client, JOBS, 20, f"threads{backends}")
            return max(seen, _threads(worker.pid))


def worker_threads(directory: Path, _: ReplayServer) -> list[Figure]:
    figures = []
    for backends in POOL_SIZES:
        measured = _count(directory / f"pool-{backends}", backends)
        before = measured - SHARED + OLD_PER_BACKEND * backends
        figures.append(
            Figure(
                f"worker threads, {backends} backend{'s' if backends > 1 else ''}",
                measured,
                "threads",
                f"before: {OLD_PER_BACKEND} per backend + the rest",
                before,
                "the same for 1, 8 and 40",
            )
        )
    return figures
