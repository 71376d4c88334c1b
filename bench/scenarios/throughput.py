"""Throughput of a zero-delay replay, the worker's CPU per job and its memory as jobs pile up."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from bench.harness import Figure, ReplayProcess, WorkerProcess
from bench.scenarios.common import stream_jobs
from bench.scenarios.direct import DirectClient
from pixflow.replay.server import ReplayServer


def _direct_jobs_per_second(replay: ReplayServer | ReplayProcess, directory: Path, jobs: int) -> float:
    """The obvious alternative without pixflow: submit, wait for the end on the WebSocket, fetch, save."""
    out = directory / "direct"
    out.mkdir(parents=True, exist_ok=True)
    client = DirectClient(replay)
    start = time.perf_counter()
    try:
        for _ in range(jobs):
            client.save_outputs(client.run(), out)
    finally:
        client.close()
    return jobs / (time.perf_counter() - start)


def throughput_and_memory(directory: Path, _: ReplayServer, jobs: int = 10_000) -> list[Figure]:
    """Zero-delay replay of a fully cached run: pixflow's own cost per job. Memory after 5,000 and 10,000.
    The replay server runs in its own process here, so the load generator does not slow it down."""
    with ReplayProcess("cached_all") as replay:
        return _throughput_and_memory(directory, replay, jobs)


WINDOW = 200  # jobs outstanding at once in the throughput run
TMPFS = Path("/dev/shm")
TMPFS_JOBS = 3_000


def _job_files_cpu_ms(directory: Path, jobs: int = 300) -> float:
    """The kernel's part of saving a job's outputs, measured alone: a folder and two files written and renamed
    into place, as the worker does for each job (comfy/outputs.py). CPU milliseconds per job."""
    start = time.process_time()
    for n in range(jobs):
        folder = directory / f"files-{n}"
        folder.mkdir(parents=True)
        for name, size in (("image.png", 1_000), ("sidecar.json", 3_000)):
            (folder / f".{name}.tmp").write_bytes(b"x" * size)
            os.replace(folder / f".{name}.tmp", folder / name)
    return (time.process_time() - start) * 1000 / jobs


def _cpu_on_tmpfs(directory: Path, replay: ReplayProcess) -> list[Figure]:
    """The worker's CPU per job with its outputs on tmpfs (its store stays on the disk): what pixflow costs without
    the disk's file creation, which on some machines (this kind of VM's ext4) is most of a job's CPU."""
    if not TMPFS.is_dir():
        return []
    with tempfile.TemporaryDirectory(dir=TMPFS) as outputs:
        disk, tmpfs = _job_files_cpu_ms(directory / "files"), _job_files_cpu_ms(Path(outputs) / "files")
        run = directory / "tmpfs-run"
        run.mkdir()
        with (
            WorkerProcess(run, replay.url, max_queued=TMPFS_JOBS, output_dir=Path(outputs) / "out") as worker,
            worker.client(timeout=30) as client,
        ):
            client.subscribe(b"job.state.")
            client.wait_subscribed()
            stream_jobs(worker.req, client, 300, WINDOW, "warm")
            cpu_start = worker.cpu_seconds()
            stream_jobs(worker.req, client, TMPFS_JOBS, WINDOW, "tmpfs")
            cpu_ms = (worker.cpu_seconds() - cpu_start) * 1000 / TMPFS_JOBS
    return [
        Figure("a job's folder and two files, kernel CPU", disk, "ms", "the same on tmpfs", tmpfs),
        Figure("worker CPU per job, outputs on tmpfs", cpu_ms, "ms", "(none)", None, "<= 2 ms"),
    ]


def _throughput_and_memory(directory: Path, replay: ReplayProcess, jobs: int) -> list[Figure]:
    direct = _direct_jobs_per_second(replay, directory, 300)
    half = jobs // 2
    with WorkerProcess(directory, replay.url, max_queued=jobs) as worker, worker.client(timeout=30) as client:
        client.subscribe(b"job.state.")
        client.wait_subscribed()
        rss_start = worker.rss_mb()
        marks = {}

        def mark(done: int) -> None:
            if done in (half, jobs):
                marks[0 if done == half else 1] = (time.perf_counter(), worker.cpu_seconds(), worker.rss_mb())

        cpu_start, start = worker.cpu_seconds(), time.perf_counter()
        stream_jobs(worker.req, client, jobs, WINDOW, "tp", mark)
    elapsed = marks[1][0] - start
    cpu_ms_per_job = (marks[1][1] - cpu_start) * 1000 / jobs
    return [
        Figure(
            "throughput, zero-delay replay",
            jobs / elapsed,
            "jobs/s",
            "direct client, no pixflow",
            direct,
            ">= 0.95x",
        ),
        Figure("worker CPU per job", cpu_ms_per_job, "ms", "(none)", None, "<= 2 ms"),
        Figure(f"worker RSS after {half:,} jobs", marks[0][2], "MB", "RSS at start", rss_start),
        Figure(f"worker RSS after {jobs:,} jobs", marks[1][2], "MB", f"RSS after {half:,} jobs", marks[0][2], "flat"),
        *_cpu_on_tmpfs(directory, replay),
    ]
