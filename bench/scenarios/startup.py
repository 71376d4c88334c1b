"""How long `pixflow status` takes from process start to its printed answer, next to `python -c pass`.

The quick commands import the client only (tests/test_cli_startup.py); this is what a probe, cron or a person
waits for. Both are run as fresh processes the same number of times, alternating, on the same worker.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import REPO, Figure, WorkerProcess
from pixflow.replay.server import ReplayServer

RUNS = 15


def _seconds(command: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, timeout=30)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.decode()[-500:]}")
    return elapsed * 1000


def pixflow_command() -> list[str]:
    """The console script installed with pixflow, as a user runs it; `python -m pixflow` if there is none."""
    script = Path(sys.executable).parent / "pixflow"
    found = str(script) if script.exists() else shutil.which("pixflow")
    return [found] if found else [sys.executable, "-m", "pixflow"]


def status_startup(directory: Path, replay: ReplayServer) -> list[Figure]:
    with WorkerProcess(directory, replay.url) as worker:
        status = [*pixflow_command(), "status", "--req-addr", worker.req, "--pub-addr", worker.pub]
        bare = [sys.executable, "-c", "pass"]
        _seconds(status), _seconds(bare)  # warm the page cache and .pyc files
        ours, floor = [], []
        for _ in range(RUNS):
            ours.append(_seconds(status))
            floor.append(_seconds(bare))
    return [
        Figure(
            "pixflow status: start to answer (median)",
            statistics.median(ours),
            "ms",
            "python -c pass (median)",
            statistics.median(floor),
            "< 300 ms",
        ),
        Figure("pixflow status: start to answer (max)", max(ours), "ms", "python -c pass (max)", max(floor)),
    ]
