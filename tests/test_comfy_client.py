"""ComfyUI's HTTP API as pixflow calls it, against the replay server on loopback: the direct keep-alive path and
the requests session that stands in for it behind a proxy, with auth or over https."""

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


def test_a_plain_http_comfyui_is_called_directly_and_answers_the_same(replay: ReplayServer) -> None:
    with ComfyClient(replay.url, timeout=5) as client:
        assert client._direct is not None
        assert "KSampler" in client.object_info()
        assert client.queue().keys() >= {"queue_running", "queue_pending"}
        assert client.history("no-such-prompt") is None
        assert client.interrupt("no-such-prompt") == 200


def test_a_proxy_in_the_environment_keeps_the_requests_session(
    replay: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    with ComfyClient(replay.url, timeout=5) as client:
        assert client._direct is None  # the proxy decides; here it is closed, so the call fails through it
        with pytest.raises(BackendError, match="unreachable"):
            client.queue()


def test_a_server_that_is_not_there_names_its_url(unused_port: int) -> None:
    url = f"http://127.0.0.1:{unused_port}"
    with ComfyClient(url, timeout=2) as client, pytest.raises(BackendError, match=f"ComfyUI at {url} is unreachable"):
        client.queue()


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
