"""Graceful stop (SIGTERM) and one worker per store, with real `pixflow serve` processes on a replay ComfyUI."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixflow.client import Client, ClientError
from pixflow.errors import StoreLockedError
from pixflow.jobs.store_lock import StoreLock, lock_path
from pixflow.replay.server import ReplayServer
from pixflow.testing import REPO, ServeProcess
from pixflow.vocabulary import STAGE_NAMES
from tests.helpers import FIXTURES, TERMINAL_STATES, wait_for

GENERATE = {"prompt": "pixel art knight", "size": [64, 64], "steps": 8}


@pytest.fixture
def recorded_speed() -> Iterator[ReplayServer]:
    """ComfyUI at the speed of the recording (a run takes about 2 s), so a stop lands while a job runs."""
    server = ReplayServer(FIXTURES, default="fresh", speed=1).start()
    yield server
    server.stop()


def _stored_state(process: ServeProcess, job_id: str) -> str:
    with sqlite3.connect(process.config.parent / "jobs.db") as db:
        (state,) = db.execute("SELECT state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    return str(state)


def _wait_state(client: Client, job_id: str, states: set[str], timeout: float = 20.0) -> dict:
    return wait_for(
        lambda: (job := client.status(job_id))["state"] in states and job, timeout, f"{job_id} to reach {states}"
    )


def test_sigterm_finishes_the_running_job_refuses_new_ones_and_keeps_the_queue(tmp_path, recorded_speed):
    process = ServeProcess(tmp_path, recorded_speed.url, max_inflight=1, stats_interval=0.05, shutdown_grace=30)
    client = process.start()
    client.call("generate", id="running", **GENERATE)
    _wait_state(client, "running", set(STAGE_NAMES))
    client.call("generate", id="waiting", **GENERATE)  # max_inflight 1: stays in pixflow's queue

    assert process.process is not None
    process.process.send_signal(signal.SIGTERM)
    wait_for(lambda: client.status()["shutting_down"], what="the worker to start draining")
    with pytest.raises(ClientError) as refused:
        client.call("generate", id="too-late", **GENERATE)
    assert refused.value.code == "shutting_down"
    assert client.call("generate", id="waiting", **GENERATE)["existing"] is True  # a retry of a known id still works
    assert client.status("running")["state"] not in TERMINAL_STATES or process.process.poll() is None

    assert process.process.wait(timeout=30) == 0
    assert _stored_state(process, "running") == "done"
    assert (process.output_dir / "running" / "running_00.png").stat().st_size > 0
    assert _stored_state(process, "waiting") == "queued"
    assert "every job handed to ComfyUI has ended" in process.log.read_text()
    with sqlite3.connect(process.config.parent / "jobs.db") as db:
        assert db.execute("SELECT COUNT(*) FROM jobs WHERE job_id = 'too-late'").fetchone() == (0,)

    client = process.start()  # the queued job runs after the next start
    assert _wait_state(client, "waiting", set(TERMINAL_STATES))["state"] == "done"
    process.stop()
    assert process.process.returncode == 0


def test_the_grace_ends_the_wait_and_the_job_is_reattached_after_restart(tmp_path, recorded_speed):
    process = ServeProcess(tmp_path, recorded_speed.url, stats_interval=0.05, shutdown_grace=0.5)
    recorded_speed.call(lambda state: state.released.clear())  # ComfyUI holds the prompt in its queue
    client = process.start()
    client.call("generate", id="held", **GENERATE)
    wait_for(lambda: client.status("held")["backend"], what="the job to be handed to ComfyUI")

    assert process.process is not None
    process.process.send_signal(signal.SIGTERM)
    assert process.process.wait(timeout=15) == 0
    assert _stored_state(process, "held") not in TERMINAL_STATES
    assert "shutdown_grace (0.5s) is over with 1 job(s)" in process.log.read_text()

    recorded_speed.call(lambda state: state.released.set())
    client = process.start()
    assert _wait_state(client, "held", set(TERMINAL_STATES))["state"] == "done"
    process.stop()


def test_a_second_worker_on_the_same_store_refuses_to_start_even_after_kill_9(tmp_path, replay):
    first = ServeProcess(tmp_path, replay.url)
    first.start()
    second = _serve(first.config)
    assert second.returncode == 2, second.stderr
    db = tmp_path / "jobs.db"
    assert f"the job store {db} is in use by another pixflow worker (pid {first.pid}" in second.stderr
    assert "(store_locked)" in second.stderr
    assert lock_path(db).read_text().strip() == str(first.pid)

    first.kill9()  # the kernel drops the lock with the process: no stale lock
    client = first.start()  # a new worker on the same store starts and serves
    assert client.ping()["type"] == "pong"
    assert lock_path(db).read_text().strip() == str(first.pid)
    first.stop()


def _serve(config: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pixflow", "serve", "--config", str(config)]
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=20, cwd=config.parent)


def test_the_lock_is_per_open_file_and_released_on_release(tmp_path):
    db = tmp_path / "jobs.db"
    held = StoreLock(db).acquire()
    with pytest.raises(StoreLockedError, match="is in use by another pixflow worker"):
        StoreLock(db).acquire()
    held.release()
    StoreLock(db).acquire().release()
