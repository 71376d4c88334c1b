"""The worker's backend threads are a fixed set (comfy/threads.py): as many for 40 backends as for one, shared by
backends added and removed at run time; the one socket opener is never held up by a host that does not answer."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixflow.comfy.client import FEATURE_FLAGS, ComfyClient
from pixflow.comfy.opener import Opening, SocketOpener
from pixflow.comfy.ws_upgrade import Upgrade, first_frame
from pixflow.replay.server import ReplayServer
from pixflow.testing import ThreadWorker, wait_for
from tests.helpers import run_job, states_of


def _worker_threads_with(directory: Path, url: str, backends: int) -> tuple[int, list[str]]:
    """The threads a worker with `backends` backends (all up) adds to this process, and their names."""
    before = set(threading.enumerate())
    names = [{"name": f"gpu{i}", "url": url} for i in range(backends)]
    running = ThreadWorker(directory, url, backends=names)
    try:
        client = running.client()
        wait_for(lambda: all(b["up"] and b["models"] for b in client.status()["backends"]), 20, "every backend up")
        assert len(client.status()["backends"]) == backends
        added = [thread.name for thread in threading.enumerate() if thread not in before]
        assert states_of(run_job(client, f"job-on-{backends}"))[-1] == "done"
    finally:
        running.stop()
    return len(added), sorted(added)


def test_forty_backends_run_on_as_many_threads_as_one(replay: ReplayServer, tmp_path: Path) -> None:
    one, names = _worker_threads_with(tmp_path / "one", replay.url, 1)
    forty, names_forty = _worker_threads_with(tmp_path / "forty", replay.url, 40)
    assert forty == one, names_forty
    assert one <= 10, names  # the worker, its checkpointer, the opener, 4 control, 2 file writers
    assert sum(name.startswith("backend-control") for name in names) == 4


def test_the_shared_threads_outlive_a_reload_that_replaces_every_backend(replay: ReplayServer, tmp_path: Path) -> None:
    running = ThreadWorker(tmp_path, replay.url, backends=[{"name": "a", "url": replay.url}])
    try:
        client = running.client()
        wait_for(lambda: client.status()["backends"][0]["models"], 10, "backend a")
        shared = {
            t for t in threading.enumerate() if t.name.startswith(("ws-opener", "backend-control", "file-writer"))
        }
        assert len(shared) == 7
        fresh = dataclasses.replace(
            running.settings, backends=(dataclasses.replace(running.settings.backends[0], name="b"),)
        )
        running.worker._reload_settings = lambda: fresh  # what SIGHUP reads again: here, a pool of "b" alone
        running.worker.reload()
        wait_for(lambda: [(b["name"], bool(b["models"])) for b in client.status()["backends"]] == [("b", True)], 10)
        assert all(thread.is_alive() for thread in shared)  # the same threads serve the new backend
        assert states_of(run_job(client, "after-reload"))[-1] == "done"
    finally:
        running.stop()


class _SilentServer:
    """A host that never answers the upgrade: one that accepts TCP connections and says nothing (a hung ComfyUI),
    or one whose accept queue is full, so the kernel drops further SYNs (as a black-holing firewall does)."""

    def __init__(self, drops_syns: bool) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)  # never accepted from: with drops_syns, full after the fillers below
        self.port = self._listener.getsockname()[1]
        self._fillers = []
        for _ in range(3 if drops_syns else 0):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", self.port))
            self._fillers.append(filler)

    def close(self) -> None:
        for sock in [*self._fillers, self._listener]:
            sock.close()


@pytest.fixture(params=[False, True], ids=["silent", "drops-syns"])
def silent(request: pytest.FixtureRequest) -> Iterator[_SilentServer]:
    server = _SilentServer(request.param)
    yield server
    server.close()


def test_a_host_that_never_answers_does_not_delay_another_backends_socket(
    replay: ReplayServer, silent: _SilentServer
) -> None:
    opener = SocketOpener()
    opener.start()
    opened: list[tuple[str, float]] = []
    failures: list[tuple[str, str]] = []
    first = first_frame(json.dumps(FEATURE_FLAGS))

    def opening(name: str, url: str, timeout: float) -> Opening:
        return Opening(
            name,
            lambda: Upgrade(url, first),
            lambda upgrade: (opened.append((name, time.monotonic())), upgrade.close()),
            lambda reason: failures.append((name, reason)),
            timeout,
        )

    started = time.monotonic()
    try:
        opener.open(opening("silent", f"ws://127.0.0.1:{silent.port}/ws", 3.0))
        opener.open(opening("live", ComfyClient(replay.url).socket_url("live"), 3.0))
        wait_for(lambda: opened, 5, "the live backend's socket")
        assert [name for name, _ in opened] == ["live"] and opened[0][1] - started < 1.0
        wait_for(lambda: failures, 5, "the silent host's attempt to end")
        assert failures[0][0] == "silent" and "took more than 3s" in failures[0][1]
    finally:
        opener.stop()


def test_a_backend_whose_host_name_cannot_be_looked_up_fails_alone(replay: ReplayServer, tmp_path: Path) -> None:
    """getaddrinfo refuses some names with a UnicodeError, no OSError: the one opener serves every backend, so that
    backend is down with the reason and the others connect."""
    backends = [{"name": "bad", "url": "http://a..b:8188"}, {"name": "good", "url": replay.url}]
    running = ThreadWorker(tmp_path, replay.url, backends=backends)
    try:
        client = running.client()
        wait_for(lambda: {b["name"]: b["up"] for b in client.status()["backends"]} == {"bad": False, "good": True})
        wait_for(lambda: (client.status()["backends"][0]["reason"] or "").count("a..b"), what="the reason, naming it")
        assert states_of(run_job(client, "on-the-good-one"))[-1] == "done"
        wait_for(lambda: "opener" in " ".join(t.name for t in threading.enumerate()), what="the opener still there")
    finally:
        running.stop()
