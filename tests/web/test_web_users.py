"""Each web user is its own owner at the worker: the web server sends `on_behalf` with the token's name and role
(docs/web.md; docs/security.md, "Proxies"). Without CURVE the owner is the user's name; through a CURVE worker with a
`proxy` key it is `<key>:<user>`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pixflow.client.keys import client_keys
from pixflow.testing import ThreadWorker, wait_for
from pixflow_web.auth import parse_tokens
from pixflow_web.server import WebConfig, WebThread
from tests.test_security import Keys
from tests.web.conftest import TIMEOUT

USERS = {"alice": "submitter", "bob": "submitter", "boss": "admin"}
TOKEN = "-token-0123456789abcdef"


class As:
    """HTTP calls with one user's token."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.headers = url, {"Authorization": f"Bearer {name}{TOKEN}"}

    def post(self, path: str, body: Any = None) -> requests.Response:
        return requests.post(self.url + path, json=body, headers=self.headers, timeout=TIMEOUT)

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, headers=self.headers, timeout=TIMEOUT)


@pytest.fixture
def serve_web() -> Iterator[Callable[..., Callable[[str], As]]]:
    started: list[WebThread] = []

    def start(worker: ThreadWorker, **config: Any) -> Callable[[str], As]:
        tokens = parse_tokens({name: {"token": name + TOKEN, "role": role} for name, role in USERS.items()})
        thread = WebThread(WebConfig(worker.req, worker.pub, port=0, tokens=tokens, keepalive=0.5, **config))
        started.append(thread)
        wait_for(lambda: thread.server.link.events_read, 10, "the web server's first event from the worker")
        return lambda name: As(thread.url, name)

    yield start
    for thread in started:
        thread.stop()


def check_owners(user: Callable[[str], As], alice_owner: str, bob_owner: str) -> None:
    alice, bob, boss = user("alice"), user("bob"), user("boss")
    assert boss.post("/v1/pause").json()["paused"] is True  # jobs stay queued: they count against the quota
    assert alice.post("/v1/jobs", {"id": "a1", "prompt": "alice's"}).status_code == 200
    assert alice.get("/v1/jobs/a1").json()["owner"] == alice_owner
    denied = bob.post("/v1/jobs/a1/cancel")
    assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
    full = alice.post("/v1/jobs", {"id": "a2", "prompt": "one too many"})  # max_queued_per_owner: 1, per user
    assert full.status_code == 429 and full.json()["code"] == "queue_full"
    assert bob.post("/v1/jobs", {"id": "b1", "prompt": "bob's", "on_behalf": {"name": "alice", "role": "admin"}}).ok
    assert bob.get("/v1/jobs/b1").json()["owner"] == bob_owner  # a body's on_behalf is not the token's
    assert alice.post("/v1/jobs/a1/cancel").json()["cancel_requested"] is True
    assert boss.post("/v1/jobs/b1/cancel").json()["cancel_requested"] is True  # an admin user cancels any job


def test_without_curve_each_user_owns_its_jobs(replay: Any, start_worker: Any, serve_web: Any) -> None:
    worker = start_worker(replay.url, max_queued_per_owner=1)
    wait_for(lambda: worker.client().call("list_models")["models"], what="the worker to learn the models")
    check_owners(serve_web(worker), "alice", "bob")


def test_through_a_proxy_key_the_owner_is_the_key_and_the_user(
    replay: Any, start_worker: Any, serve_web: Any, tmp_path: Path
) -> None:
    keys = Keys(tmp_path / "keys")
    keys.add("web", "proxy:admin")
    worker = start_worker(replay.url, max_queued_per_owner=1, **keys.settings())
    web_keys = client_keys(keys.worker_public, keys.secrets / "web.key_secret")
    user = serve_web(worker, keys=web_keys)
    wait_for(lambda: user("boss").get("/v1/models").json().get("models"), what="the worker to learn the models")
    check_owners(user, "web:alice", "web:bob")
