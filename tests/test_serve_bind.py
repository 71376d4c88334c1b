"""`pixflow serve` whose request or event address cannot be bound: a one-line error with a stable code and exit
status 2 (as for a taken metrics port), never a ZeroMQ traceback; and a worker that could not start gives back
what it had taken (the store's lock)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from pixflow.errors import SettingError
from pixflow.testing import ServeProcess
from tests.helpers import REPO


@pytest.fixture
def held() -> Iterator[str]:
    """A loopback address some other program has bound (here a plain ZeroMQ socket on a port of the system's)."""
    holder = zmq.Context.instance().socket(zmq.ROUTER)
    holder.setsockopt(zmq.LINGER, 0)
    holder.bind("tcp://127.0.0.1:0")
    yield holder.getsockopt_string(zmq.LAST_ENDPOINT)
    holder.close(0)


def _serve(tmp_path: Path, **settings: str | bool) -> subprocess.CompletedProcess[str]:
    config = ServeProcess(tmp_path, "http://127.0.0.1:9", **settings).config  # only writes the config file
    command = [sys.executable, "-m", "pixflow", "serve", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path)


@pytest.mark.parametrize("setting", ["req_addr", "pub_addr"])
def test_serve_on_a_taken_address_ends_with_one_line_and_its_code(tmp_path, held, setting):
    result = _serve(tmp_path, **{setting: held})
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"pixflow: cannot bind {setting} {held}: it is in use (another worker, or another program); set {setting} "
        "to a free address of this machine (address_in_use)"
    ), result.stderr
    assert "Traceback" not in result.stderr and "ZMQError" not in result.stderr


def test_serve_on_an_address_of_another_machine_is_an_invalid_setting(tmp_path):
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine. `insecure` lets it past the check that
    # refuses an exposed address without keys, so that the bind itself is what fails.
    result = _serve(tmp_path, req_addr="tcp://192.0.2.1:5555", insecure=True)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("pixflow: cannot bind req_addr tcp://192.0.2.1:5555: ") and last.endswith(
        "(invalid_setting)"
    ), result.stderr
    assert "Traceback" not in result.stderr


def test_a_worker_that_cannot_bind_gives_back_the_stores_lock(tmp_path, held, replay, start_worker):
    # replay before start_worker: fixtures end in reverse, so the worker stops before its ComfyUI does (a replay
    # stopped first can leave a control transfer of the worker waiting out its timeout at the stop).
    directory = tmp_path / "one-store"
    with pytest.raises(SettingError) as refused:
        start_worker(replay.url, req_addr=held, metrics_addr="", db_path=directory / "jobs.db")
    assert refused.value.code == "address_in_use" and refused.value.key == "req_addr"
    running = start_worker(replay.url, metrics_addr="", db_path=directory / "jobs.db")  # same store, free ports
    assert running.client().ping()["type"] == "pong"
