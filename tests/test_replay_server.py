"""The replay server's own life: listening on a chosen or system-chosen port, failing to start, stopping."""

from __future__ import annotations

import itertools
import json
import socket

import pytest
import requests
import websocket

from pixflow.replay.server import ReplayServer
from tests.helpers import FIXTURES


def test_port_zero_listens_on_the_port_the_system_chose_and_stop_frees_it():
    server = ReplayServer(FIXTURES).start()
    assert server.port != 0 and server.url == f"http://127.0.0.1:{server.port}"
    stats = requests.get(f"{server.url}/replay/stats", timeout=5).json()
    assert "fresh" in stats["recordings"] and stats["queue_remaining"] == 0
    assert requests.get(f"{server.url}/api/system_stats", timeout=5).status_code == 200  # ComfyUI's /api/ prefix
    server.stop()
    server.stop()  # a second stop is harmless
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", server.port))  # the listening socket was closed


def test_a_busy_port_fails_start_with_the_cause():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(RuntimeError, match="failed to start") as caught:
            ReplayServer(FIXTURES, port=busy.getsockname()[1]).start()
    assert isinstance(caught.value.__cause__, OSError)


def test_an_unknown_default_recording_fails_start():
    with pytest.raises(RuntimeError, match="no recording 'nope'"):
        ReplayServer(FIXTURES, default="nope").start()


def test_call_runs_on_the_server_loop_with_the_state():
    with ReplayServer(FIXTURES) as server:
        server.call(lambda state, name: state.playlist.append(name), "cached_all")
        assert server.call(lambda state: list(state.playlist)) == ["cached_all"]
        answer = requests.post(f"{server.url}/replay/playlist", json={"recordings": ["nope"]}, timeout=5)
        assert answer.status_code == 400


def test_the_send_log_records_each_event_as_sent_when_asked_and_only_then():
    with ReplayServer(FIXTURES, default="cached_all") as server:
        ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws?clientId=logged", timeout=5)
        try:
            assert requests.get(f"{server.url}/replay/send_log", timeout=5).json() == {"log": None}
            assert requests.post(f"{server.url}/replay/send_log", json={"record": True}, timeout=5).json()["log"] == []
            body = {"prompt": {}, "client_id": "logged", "prompt_id": "p-1"}
            requests.post(f"{server.url}/prompt", json=body, timeout=5)
            while (frame := json.loads(ws.recv()))["type"] != "executing" or frame["data"]["node"] is not None:
                pass
            log = requests.get(f"{server.url}/replay/send_log", timeout=5).json()["log"]
            kinds = [kind for _, prompt_id, kind, _ in log if prompt_id == "p-1"]
            assert kinds[0] == "execution_start" and kinds[-1] == "executing"
            assert all(later >= earlier for (earlier, *_), (later, *_) in itertools.pairwise(log))
            stopped = requests.post(f"{server.url}/replay/send_log", json={"record": False}, timeout=5).json()
            assert stopped == {"log": None}
        finally:
            ws.close()
