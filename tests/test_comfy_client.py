"""ComfyUI's HTTP API as pixflow calls it, against the replay server on loopback: one libcurl transport for every
server, chosen once (https, proxies and .netrc through a real relay: tests/test_transport.py)."""

from __future__ import annotations

import socket

import pytest

from pixflow.comfy.client import ComfyClient
from pixflow.errors import BackendError
from pixflow.replay.server import ReplayServer
from tests.helpers import FIXTURES


@pytest.fixture
def replay() -> ReplayServer:
    with ReplayServer(FIXTURES, default="cached_all") as server:
        yield server


def test_a_plain_http_comfyui_answers_every_call(replay: ReplayServer) -> None:
    with ComfyClient(replay.url, timeout=5) as client:
        assert client.transport.proxy == ""
        assert "KSampler" in client.object_info()
        assert client.queue().keys() >= {"queue_running", "queue_pending"}
        assert client.history("no-such-prompt") is None
        assert client.interrupt("no-such-prompt") == 200


def test_a_proxy_in_the_environment_is_chosen_once_for_the_server(
    replay: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    with ComfyClient(replay.url, timeout=5) as client:
        assert client.transport.proxy == "http://127.0.0.1:9"  # the proxy decides; here it is closed
        with pytest.raises(BackendError, match="unreachable"):
            client.queue()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with ComfyClient(replay.url, timeout=5) as client:
        assert client.transport.proxy == ""
        assert "queue_running" in client.queue()


def test_a_server_that_is_not_there_names_its_url(unused_port: int) -> None:
    url = f"http://127.0.0.1:{unused_port}"
    with ComfyClient(url, timeout=2) as client, pytest.raises(BackendError, match=f"ComfyUI at {url} is unreachable"):
        client.queue()


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
