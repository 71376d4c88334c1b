"""The web server under test: a real `pixflow_web` server (in a thread of this process, on a free loopback port)
talking over ZeroMQ to a real ThreadWorker on the replay ComfyUI; tokens for each role; an SSE reader."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from pixflow.testing import ThreadWorker, wait_for
from pixflow_web.auth import parse_tokens
from pixflow_web.server import WebConfig, WebThread

TIMEOUT = 10.0  # every HTTP call's
TOKENS = {role: f"{role}-token-0123456789" for role in ("viewer", "submitter", "admin")}
SMALL = {"size": [64, 64], "steps": 4}


class Api:
    """requests against the server, as one role (None: no token)."""

    def __init__(self, url: str, role: str | None = "admin") -> None:
        self.url, self.role = url, role

    def headers(self, role: str | None = None) -> dict[str, str]:
        role = role or self.role
        return {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}

    def get(self, path: str, role: str | None = None, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, headers=self.headers(role), timeout=TIMEOUT, **kwargs)

    def post(self, path: str, body: Any = None, role: str | None = None, **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, json=body, headers=self.headers(role), timeout=TIMEOUT, **kwargs)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        response = self.post(path, body) if method == "POST" else self.get(path)
        assert response.status_code == 200, (method, path, response.status_code, response.text)
        return response.json()

    def wait_job(self, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            job = self.ok("GET", f"/v1/jobs/{job_id}")
            return job if job["state"] in ("done", "failed", "cancelled") else None

        result: dict[str, Any] = wait_for(ended, timeout, f"job {job_id} to end", interval=0.05)
        return result


@dataclass
class Web:
    thread: WebThread
    api: Api

    @property
    def url(self) -> str:
        return self.thread.url

    @property
    def hub(self) -> Any:
        return self.thread.server.hub


@pytest.fixture
def start_web() -> Iterator[Callable[..., Web]]:
    started: list[WebThread] = []

    def start(worker: ThreadWorker, tokens: bool = True, **config: Any) -> Web:
        parsed = parse_tokens({role: {"token": token, "role": role} for role, token in TOKENS.items()})
        config.setdefault("keepalive", 0.5)
        thread = WebThread(WebConfig(worker.req, worker.pub, port=0, tokens=parsed if tokens else None, **config))
        started.append(thread)
        web = Web(thread, Api(thread.url))
        wait_for(lambda: thread.server.link.events_read, 10, "the web server's first event from the worker")
        return web

    yield start
    for thread in started:
        thread.stop()


@pytest.fixture
def web(worker: ThreadWorker, start_web: Callable[..., Web]) -> Web:
    return start_web(worker)


@dataclass(frozen=True)
class Sse:
    id: str | None
    name: str
    data: dict[str, Any]


class SseReader:
    """One server-sent event stream over http.client (a socket timeout on every read)."""

    def __init__(self, url: str, path: str, role: str | None = "viewer", last_event_id: str | None = None) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
        headers = {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.connection.request("GET", path, headers=headers)
        self.response = self.connection.getresponse()
        self.comments: list[str] = []

    def next(self) -> Sse | None:
        """The next event; None when the stream has ended."""
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline()
            if not line:
                return None
            text = line.decode().rstrip("\r\n")
            if text.startswith(":"):
                self.comments.append(text[1:].strip())
            elif text:
                name, _, value = text.partition(":")
                fields[name] = value.removeprefix(" ")
            elif "data" in fields:
                return Sse(fields.get("id"), fields.get("event", "message"), json.loads(fields["data"]))

    def take(self, count: int) -> list[Sse]:
        taken = []
        for _ in range(count):
            event = self.next()
            assert event is not None, f"the stream ended after {taken}"
            taken.append(event)
        return taken

    def rest(self) -> list[Sse]:
        """Every event until the stream ends."""
        events = []
        while (event := self.next()) is not None:
            events.append(event)
        return events

    def close(self) -> None:
        self.connection.close()


def states(events: list[Sse]) -> list[str]:
    return [e.data["to"] for e in events if e.name == "state"]
