"""Control plane: ping, status and durable generate round trips against a bare echo and a bare SQLite commit."""

from __future__ import annotations

import time
from pathlib import Path

from bench.harness import REPO, EchoServer, Figure, WorkerProcess, wait_until
from bench.scenarios.common import GENERATE, p50_p99, round_trips
from pixflow.protocol import pack
from pixflow.replay.server import ReplayServer


def _sqlite_commits(directory: Path, count: int) -> list[float]:
    """The storage floor of a durable generate: one committed row of the same size, same settings, same disk."""
    import sqlite3

    db = sqlite3.connect(str(directory / "floor.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE jobs (job_id TEXT PRIMARY KEY, body TEXT)")
    body = (REPO / "workflows" / "txt2img.json").read_text() * 2
    samples = []
    for i in range(count):
        start = time.perf_counter_ns()
        db.execute("INSERT INTO jobs VALUES (?, ?)", (f"job-{i}", body))
        samples.append((time.perf_counter_ns() - start) / 1e6)
    db.close()
    return samples


def control_plane(directory: Path, replay: ReplayServer, count: int = 3000) -> list[Figure]:
    ping = pack({"type": "ping", "v": 1})
    commit_samples = _sqlite_commits(directory, count)
    with EchoServer() as echo:
        echo_samples = round_trips(echo.addr, [ping] * (count + 200))
    with WorkerProcess(directory, replay.url) as worker, worker.client() as client:
        ping_samples = round_trips(worker.req, [ping] * (count + 200))
        client.call("generate", id="status-probe", **{k: v for k, v in GENERATE.items() if k not in ("type", "v")})
        wait_until(lambda: client.status("status-probe")["state"] == "done", 10, "the probe job")
        status = pack({"type": "status", "v": 1, "job_id": "status-probe"})
        status_samples = round_trips(worker.req, [status] * (count + 200))
        client.call("pause")  # generate's cost alone: validate, commit, reply; nothing is dispatched
        generates = [pack({**GENERATE, "id": f"gen-{i}"}) for i in range(count + 200)]
        generate_samples = round_trips(worker.req, generates)
    return [
        *p50_p99("ping round trip", ping_samples, "bare REQ/ROUTER echo", echo_samples, "p99 < 1 ms, < 2x echo"),
        *p50_p99("status round trip", status_samples, "bare REQ/ROUTER echo", echo_samples, "p99 < 1 ms"),
        *p50_p99("generate round trip (durable)", generate_samples, "bare REQ/ROUTER echo", echo_samples, "p99 < 2 ms"),
        *p50_p99(
            "generate round trip (durable)", generate_samples, "bare SQLite commit, same disk", commit_samples, ""
        ),
    ]
