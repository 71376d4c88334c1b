"""A long history: a store holding 1,000,000 finished jobs (`./dev bench history`, on demand).

The rows are copies of one real job's row (run through the worker first), written with one SQL statement, not
through the worker. Then: how long `pixflow serve` takes until it answers, against the same start on an empty
store; `status` of one job and `list_jobs` (filtered, paged) against a bare REQ/ROUTER echo; the file size per job.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

from bench.harness import EchoServer, Figure, WorkerProcess, percentile, wait_until
from bench.scenarios.common import GENERATE, round_trips
from pixflow.protocol import pack
from pixflow.replay.server import ReplayServer
from pixflow.testing import ServeProcess

HISTORY = 1_000_000
STARTS = 3  # starts measured on each store
SETTINGS = {"retention_hours": 24 * 365 * 10, "log_level": "WARNING"}  # keep the whole history


def fill_history(db: Path, jobs: int, template_id: str) -> float:
    """Copies of the template row as finished jobs, ~2 s apart in the past; seconds taken."""
    started = time.perf_counter()
    connection = sqlite3.connect(str(db), isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        now = int(time.time() * 1000)
        base = connection.execute("SELECT COALESCE(MAX(position), 0) FROM jobs").fetchone()[0]
        columns = [row[1] for row in connection.execute("PRAGMA table_info(jobs)")]
        generated = {
            "job_id": "'hist-' || n",
            "position": f"{base} + n",
            "state": "CASE WHEN n % 50 = 0 THEN 'failed' WHEN n % 97 = 0 THEN 'cancelled' ELSE 'done' END",
            "prompt_id": "'hist-prompt-' || n",
            "created_at": f"{now} - ({jobs} - n) * 2000 - 900",
            "started_at": f"{now} - ({jobs} - n) * 2000 - 600",
            "finished_at": f"{now} - ({jobs} - n) * 2000",
        }
        select = ", ".join(generated.get(column, column) for column in columns)
        connection.execute("BEGIN")
        connection.execute(
            f"""WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {jobs})
            INSERT INTO jobs ({", ".join(columns)}) SELECT {select} FROM seq, jobs WHERE job_id = ?""",
            (template_id,),
        )
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return time.perf_counter() - started


def _start_seconds(worker: ServeProcess) -> float:
    """From spawning `pixflow serve` to its first answer (it recovers the store before it binds and answers)."""
    started = time.perf_counter()
    client = worker.start(timeout=120)
    elapsed = time.perf_counter() - started
    client.call("ping")
    worker.stop()
    return elapsed


def long_history(directory: Path, replay: ReplayServer, jobs: int = HISTORY) -> list[Figure]:
    empty_dir, full_dir = directory / "empty", directory / "full"
    empty_dir.mkdir()
    full_dir.mkdir()
    body = {k: v for k, v in GENERATE.items() if k not in ("type", "v")}
    with WorkerProcess(full_dir, replay.url, **SETTINGS) as worker, worker.client() as client:
        client.call("generate", id="template", **body)
        wait_until(lambda: client.status("template")["state"] == "done", 30, "the template job")
    db = full_dir / "jobs.db"
    fill_seconds = fill_history(db, jobs, "template")
    size = db.stat().st_size
    empty = ServeProcess(empty_dir, replay.url, **SETTINGS)
    full = ServeProcess(full_dir, replay.url, **SETTINGS)
    empty_starts, full_starts = [], []
    for _ in range(STARTS):  # alternating, so both see the same machine
        empty_starts.append(_start_seconds(empty))
        full_starts.append(_start_seconds(full))
    rng = random.Random(16)
    count = 2000
    with EchoServer() as echo:
        echo_samples = round_trips(echo.addr, [pack({"type": "ping", "v": 1})] * (count + 200))
    with WorkerProcess(full_dir, replay.url, **SETTINGS) as worker:
        status_one = [
            pack({"type": "status", "v": 1, "job_id": f"hist-{rng.randint(1, jobs)}"}) for _ in range(count + 200)
        ]
        status_samples = round_trips(worker.req, status_one)
        pages = [
            pack({"type": "list_jobs", "v": 1, "states": [state], "limit": 20, "offset": 20 * rng.randrange(250)})
            for state in rng.choices(["done", "failed", "cancelled"], k=count + 200)
        ]
        page_samples = round_trips(worker.req, pages)
        deep = [
            pack({"type": "list_jobs", "v": 1, "states": ["done"], "limit": 20, "offset": rng.randrange(jobs // 2)})
            for _ in range(220)
        ]
        deep_samples = round_trips(worker.req, deep, warmup=20)
        worker_status = round_trips(worker.req, [pack({"type": "status", "v": 1})] * (count + 200))
    print(f"  history: {jobs:,} rows written in {fill_seconds:.1f} s")
    echo_p99 = percentile(echo_samples, 0.99)
    return [
        Figure(
            f"start to serving, {jobs:,} finished jobs (max of {STARTS})",
            max(full_starts) * 1000,
            "ms",
            "same start, empty store (max)",
            max(empty_starts) * 1000,
            "<= 2000 ms",
        ),
        Figure(
            "status of one job, long history, p99",
            percentile(status_samples, 0.99),
            "ms",
            "bare echo p99",
            echo_p99,
            "<= 5 ms",
        ),
        Figure(
            "list_jobs (one state, 20 a page, first 250 pages) p99",
            percentile(page_samples, 0.99),
            "ms",
            "bare echo p99",
            echo_p99,
            "<= 5 ms",
        ),
        Figure(
            "list_jobs (done, 20 a page, offset up to 500k) p99",
            percentile(deep_samples, 0.99),
            "ms",
            "bare echo p99",
            echo_p99,
            "",
        ),
        Figure(
            "worker status (counts per state), long history, p99",
            percentile(worker_status, 0.99),
            "ms",
            "bare echo p99",
            echo_p99,
            "",
        ),
        Figure("store file size per finished job", size / (jobs + 1), "bytes", "(none)", None),
    ]
