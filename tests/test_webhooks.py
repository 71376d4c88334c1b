"""Webhooks against a real HTTP receiver on loopback that can fail, hang and recover, with workers in a thread and
as a real process killed with SIGKILL: every event delivered at least once, signatures valid (docs/webhooks.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from pixflow.client import ClientError
from pixflow.errors import ConfigError
from pixflow.jobs.deliveries import PENDING, Delivery
from pixflow.jobs.rows import SCHEMA_VERSION
from pixflow.jobs.store import JobStore
from pixflow.settings import load_settings
from pixflow.testing import ServeProcess, ThreadWorker, wait_for
from pixflow.vocabulary import TERMINAL_STATES
from pixflow.webhooks import policy
from pixflow.webhooks.targets import allowed, host_key
from tests.helpers import FULL_RUN

SECRET = b"pixflow-test-secret-0123456789ab"
WHSEC = "whsec_" + base64.b64encode(SECRET).decode()
JOB = {"prompt": "pixel art knight", "size": [64, 64], "steps": 8}


class Receiver:
    """An HTTP server on a free loopback port recording every POST; `mode`: ok (204), fail (500) or hang."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []  # every attempt: headers, body, what it was answered
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                mode = owner.mode
                owner.requests.append({"headers": dict(self.headers), "body": body, "mode": mode})
                if mode == "hang":
                    owner.release.wait(30)
                    return
                self.send_response(204 if mode == "ok" else 500)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def delivered(self) -> list[dict[str, Any]]:
        """The payloads answered 2xx, as JSON."""
        return [json.loads(r["body"]) for r in list(self.requests) if r["mode"] == "ok"]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "webhook.secret"
    path.write_text(WHSEC + "\n")
    return path


def _verify(request: dict[str, Any]) -> None:
    """The signature as a receiver checks it: HMAC-SHA256 of id.timestamp.body, base64, after `v1,`."""
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["content-type"] == "application/json"
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + request["body"]
    expected = base64.b64encode(hmac.new(SECRET, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    Webhook(WHSEC).verify(request["body"], headers)  # and as the Standard Webhooks reference library does


def _worker(start_worker: Any, replay: Any, secret_file: Path, **settings: Any) -> ThreadWorker:
    running: ThreadWorker = start_worker(
        replay.url, webhook_hosts=["127.0.0.1:*"], webhook_secret_file=secret_file, **settings
    )
    client = running.client()
    wait_for(lambda: client.call("list_models")["models"], what="the worker to learn the replay's models")
    return running


def _rows(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute("SELECT * FROM webhook_deliveries ORDER BY created_at")]


def _done(client: Any, job_id: str, timeout: float = 15.0) -> dict[str, Any]:
    return wait_for(
        lambda: (job := client.status(job_id))["state"] in TERMINAL_STATES and job, timeout, f"job {job_id} to end"
    )


def test_the_terminal_event_arrives_once_signed(replay, start_worker, secret_file, receiver):
    worker = _worker(start_worker, replay, secret_file)
    client = worker.client()
    client.call("generate", id="hooked", webhook={"url": receiver.url, "events": "final"}, **JOB)
    job = _done(client, "hooked")
    wait_for(lambda: receiver.requests, what="the webhook")
    # Deliveries come only from rows: one row, delivered at its first attempt, is one request and no other.
    wait_for(lambda: [r["state"] for r in _rows(worker.settings.db_path)] == ["delivered"], what="the row delivered")
    assert len(receiver.requests) == 1
    _verify(receiver.requests[0])
    body = json.loads(receiver.requests[0]["body"])
    assert body["type"] == "job.state" and body["job_id"] == "hooked" and body["to"] == "done"
    assert body["job"]["state"] == "done" and body["job"]["outputs"] == job["outputs"]
    assert job["params"]["webhook"] == {"url": receiver.url, "events": "final"}
    [row] = _rows(worker.settings.db_path)
    assert row["state"] == "delivered" and row["attempts"] == 1 and row["last_status"] == 204
    assert row["id"] == receiver.requests[0]["headers"]["webhook-id"]


def test_states_delivers_every_state_in_order(replay, start_worker, secret_file, receiver):
    worker = _worker(start_worker, replay, secret_file)
    client = worker.client()
    client.call("generate", id="every", webhook={"url": receiver.url, "events": "states"}, **JOB)
    _done(client, "every")
    wait_for(lambda: receiver.delivered() and receiver.delivered()[-1]["to"] == "done", what="the last state")
    bodies = sorted(receiver.delivered(), key=lambda body: body["seq"])
    assert [body["to"] for body in bodies] == FULL_RUN
    assert [body["from"] for body in bodies] == [None, *FULL_RUN[:-1]]
    for request in receiver.requests:
        _verify(request)


def test_a_failing_receiver_gets_it_once_it_recovers(replay, start_worker, secret_file, receiver):
    worker = _worker(start_worker, replay, secret_file, webhook_backoff=0.05)
    client = worker.client()
    receiver.mode = "fail"
    client.call("generate", id="retried", webhook={"url": receiver.url}, **JOB)
    _done(client, "retried")
    wait_for(lambda: len(receiver.requests) >= 3, what="three failed attempts")
    receiver.mode = "ok"
    wait_for(lambda: receiver.delivered(), what="the delivery after the receiver recovered")
    [row] = wait_for(lambda: [r for r in _rows(worker.settings.db_path) if r["state"] == "delivered"], what="the row")
    assert row["attempts"] == len(receiver.requests) >= 4 and row["last_status"] == 204 and row["last_error"] is None
    ids = {request["headers"]["webhook-id"] for request in receiver.requests}
    assert ids == {row["id"]}  # the same id on every attempt: the receiver's dedupe key
    metrics = worker.worker.ops.metrics.registry
    assert metrics.get_sample_value("pixflow_webhook_deliveries_total", {"outcome": "delivered"}) == 1
    assert metrics.get_sample_value("pixflow_webhook_deliveries_total", {"outcome": "retry"}) == row["attempts"] - 1
    for request in receiver.requests:
        _verify(request)


def test_a_hanging_receiver_slows_neither_the_loop_nor_other_receivers(replay, start_worker, secret_file, receiver):
    worker = _worker(start_worker, replay, secret_file, webhook_timeout=5.0)
    client = worker.client()
    healthy = Receiver()
    try:
        receiver.mode = "hang"
        for n in range(3):  # more than one receiver host's share of the delivery threads
            client.call("generate", id=f"stuck-{n}", webhook={"url": receiver.url}, **JOB)
        wait_for(lambda: len(receiver.requests) >= 2, what="the hanging receiver to be called")
        client.call("generate", id="fine", webhook={"url": healthy.url}, **JOB)
        wait_for(lambda: healthy.delivered(), what="the healthy receiver's delivery")
        assert not receiver.release.is_set() and all(r["mode"] == "hang" for r in receiver.requests)
        assert len(receiver.requests) == 2  # at most two in flight to one host
        for _ in range(5):
            started = time.perf_counter()
            client.ping()
            assert time.perf_counter() - started < 0.5
    finally:
        healthy.close()


def test_refusals(replay, start_worker, secret_file, receiver):
    worker = _worker(start_worker, replay, secret_file)
    client = worker.client()
    bad = {
        "host": {"url": "http://10.1.2.3/hook"},
        "scheme": {"url": f"ftp://127.0.0.1:{receiver.port}/hook"},
        "events": {"url": receiver.url, "events": "some"},
        "url": {"url": "http://127.0.0.1/" + "x" * 2100},
        "shape": "http://127.0.0.1/hook",
        "keys": {"url": receiver.url, "secret": "x"},
    }
    for name, webhook in bad.items():
        with pytest.raises(ClientError) as refused:
            client.call("generate", webhook=webhook, **JOB)
        assert refused.value.code == "invalid_params", name
        assert "webhook" in refused.value.message, name
    with pytest.raises(ClientError) as refused:
        client.call("compare", models=["a"], webhook={"url": "http://10.1.2.3/"}, **JOB)
    assert refused.value.code == "invalid_params"


def test_no_webhook_hosts_refuses_every_webhook(replay, start_worker, receiver):
    worker = start_worker(replay.url)
    with pytest.raises(ClientError) as refused:
        worker.client().call("generate", webhook={"url": receiver.url}, **JOB)
    assert refused.value.code == "invalid_params" and "webhook_hosts" in refused.value.message


def test_given_up_after_webhook_retry_for(replay, start_worker, secret_file, receiver):
    worker = _worker(start_worker, replay, secret_file, webhook_backoff=0.05, webhook_retry_for=0.6)
    client = worker.client()
    receiver.mode = "fail"
    client.call("generate", id="lost-cause", webhook={"url": receiver.url}, **JOB)
    _done(client, "lost-cause")
    [row] = wait_for(lambda: [r for r in _rows(worker.settings.db_path) if r["state"] == "given_up"], 5, "give-up")
    assert row["attempts"] >= 2 and row["last_status"] == 500 and "HTTP 500" in row["last_error"]
    tried = len(receiver.requests)
    assert tried == row["attempts"]


def test_every_event_is_delivered_across_a_kill(tmp_path, replay, secret_file, receiver):
    process = ServeProcess(
        tmp_path,
        replay.url,
        webhook_hosts=["127.0.0.1:*"],
        webhook_secret_file=secret_file,
        webhook_backoff=0.05,
        webhook_timeout=2.0,
        stats_interval=0.05,
    )
    try:
        client = process.start()
        wait_for(lambda: client.call("list_models")["models"], what="the worker to learn the replay's models")
        receiver.mode = "fail"
        ids = [f"killed-{n}" for n in range(3)]
        for job_id in ids:
            client.call("generate", id=job_id, webhook={"url": receiver.url, "events": "states"}, **JOB)
        for job_id in ids:
            _done(client, job_id)
        wait_for(lambda: len(receiver.requests) >= 6, 10, "failed attempts")
        receiver.mode = "hang"  # deliveries in flight when the worker dies
        wait_for(lambda: any(r["mode"] == "hang" for r in receiver.requests), 10, "an attempt in flight")
        process.kill9()
        left = [row for row in _rows(tmp_path / "jobs.db") if row["state"] == "pending"]
        assert len(left) == sum(len(FULL_RUN) for _ in ids) and all(row["attempts"] >= 0 for row in left)
        assert any(row["attempts"] >= 1 for row in left) and not any(r["mode"] == "ok" for r in receiver.requests)
        receiver.mode = "ok"
        receiver.release.set()
        client = process.start()
        expected = {job_id: set(client.status(job_id)["state_times"]) for job_id in ids}

        def delivered() -> dict[str, set[str]]:
            got: dict[str, set[str]] = {job_id: set() for job_id in ids}
            for body in receiver.delivered():
                got[body["job_id"]].add(body["to"])
            return got

        wait_for(lambda: delivered() == expected, 15, "every state of every job delivered after the restart")
        for request in receiver.requests:
            if request["mode"] == "ok":
                _verify(request)
        # The receiver has answered; the worker records each outcome in its next loop turn.
        rows = tmp_path / "jobs.db"
        wait_for(lambda: all(row["state"] == "delivered" for row in _rows(rows)), 15, "every row marked delivered")
    finally:
        process.stop()


def test_a_version_3_store_gains_the_deliveries_table(tmp_path):
    db = tmp_path / "old.db"
    JobStore(db).close()
    with sqlite3.connect(db) as connection:
        connection.execute("DROP TABLE webhook_deliveries")
        connection.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    store = JobStore(db)
    try:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION) == "4"
        assert store.read("SELECT COUNT(*) FROM webhook_deliveries")[0][0] == 0
    finally:
        store.close()


def test_a_default_webhook_reaches_jobs_that_name_none(replay, start_worker, secret_file, receiver):
    worker = _worker(start_worker, replay, secret_file, webhook_default={"url": receiver.url, "events": "final"})
    client = worker.client()
    client.call("generate", id="defaulted", **JOB)
    _done(client, "defaulted")
    wait_for(lambda: receiver.delivered(), what="the default webhook's delivery")
    assert [body["to"] for body in receiver.delivered()] == ["done"]
    _verify(receiver.requests[0])


def test_a_clients_own_default_comes_before_the_workers(replay, start_worker, secret_file, receiver):
    other = Receiver()
    try:
        defaults = {"alice": {"url": receiver.url, "events": "final"}}
        worker = _worker(
            start_worker,
            replay,
            secret_file,
            webhook_client_defaults=defaults,
            webhook_default={"url": other.url, "events": "final"},
        )
        client = worker.client()
        # Without CURVE a proxy's user is its owner as named (docs/security.md): alice's default, bob the worker's.
        client.call("generate", id="alices", on_behalf={"name": "alice", "role": "submitter"}, **JOB)
        client.call("generate", id="bobs", on_behalf={"name": "bob", "role": "submitter"}, **JOB)
        wait_for(lambda: receiver.delivered() and other.delivered(), what="both defaults' deliveries")
        assert [body["job_id"] for body in receiver.delivered()] == ["alices"]
        assert [body["job_id"] for body in other.delivered()] == ["bobs"]
        assert client.status("alices")["params"]["webhook"] == defaults["alice"]
    finally:
        other.close()


def test_webhook_hosts_without_a_secret_does_not_start(tmp_path, replay):
    with pytest.raises(ConfigError, match="webhook_secret_file"):
        ThreadWorker(tmp_path, replay.url, webhook_hosts=["127.0.0.1:*"])


def test_the_settings_are_checked():
    assert load_settings(environ={"PIXFLOW_WEBHOOK_HOSTS": "a.example.com, 127.0.0.1:*"}).webhook_hosts == (
        "a.example.com",
        "127.0.0.1:*",
    )
    loaded = load_settings(overrides={"webhook_default": "http://h.example.com/x,states"}, environ={})
    assert loaded.webhook_default == ("http://h.example.com/x", "states")
    for key, value in [
        ("webhook_hosts", ["http://a.example.com"]),
        ("webhook_hosts", ["a b"]),
        ("webhook_default", {"url": "ftp://x/"}),
        ("webhook_default", {"url": "http://x/", "events": "all"}),
        ("webhook_retry_for", 0),
    ]:
        with pytest.raises(ConfigError, match=key):
            load_settings(overrides={key: value}, environ={})


def test_host_patterns():
    assert allowed("http://127.0.0.1:8000/x", ("127.0.0.1:*",))
    assert allowed("http://127.0.0.1:8000/x", ("127.0.0.1",))  # no port: any port
    assert not allowed("http://127.0.0.1:8000/x", ("127.0.0.1:9000",))
    assert allowed("https://Hooks.Example.com/x", ("*.example.com:443",))  # the scheme's port
    assert not allowed("http://hooks.example.com/x", ("*.example.com:443",))
    assert allowed("http://[::1]:8080/", ("[::1]",)) and not allowed("http://[::1]:8080/", ("[::1]:80",))
    assert not allowed("http://10.0.0.1/", ("127.0.0.1:*",))
    assert not allowed("http://127.0.0.1.evil.example/", ("127.0.0.1",))


def test_backoff_and_give_up():
    rng = random.Random(7)
    timing = policy.Timing(backoff=1.0, retry_for=60.0)
    waits = [policy.backoff(n, 1.0, rng) for n in range(1, 12)]
    for n, wait in enumerate(waits, start=1):
        full = min(policy.BACKOFF_CAP, 2 ** (n - 1))
        assert full / 2 <= wait <= full
    delivery = Delivery("msg_1", "j", "http://h/", "{}", "done", created_at=0)
    failed = policy.Outcome("msg_1", 500, "HTTP 500: no")
    now = 0
    while delivery.state == PENDING:
        policy.after_attempt(delivery, failed, now, timing, rng)
        assert delivery.attempts < 20
        now = delivery.next_at
    assert delivery.state == "given_up" and delivery.last_status == 500 and now <= 60_000
    again = Delivery("msg_2", "j", "http://h/", "{}", "done", created_at=0)
    policy.after_attempt(again, policy.Outcome("msg_2", 204), 5, timing, rng)
    assert again.state == "delivered" and again.delivered_at == 5 and again.last_error is None


def test_due_holds_each_host_to_its_limit():
    def delivery(n: int, host: str, next_at: int = 0) -> Delivery:
        return Delivery(f"m{n}", "j", f"http://{host}/", "{}", "done", created_at=0, next_at=next_at)

    pending = [delivery(1, "a"), delivery(2, "a"), delivery(3, "a"), delivery(4, "b"), delivery(5, "b", next_at=99)]
    chosen = policy.due(pending, {"m1"}, {"a:80": 1}, 10, 2, host_key)
    assert [d.id for d in chosen] == ["m2", "m4"]  # m1 is out, a has room for one more, m5 is not due


def test_pixflow_submit_names_a_webhook(replay, start_worker, secret_file, receiver):
    from pixflow.cli.main import main

    worker = _worker(start_worker, replay, secret_file)
    args = ["submit", "knight", "--id", "cli-hook", "--size", "64x64", "--steps", "4"]
    args += [
        "--webhook",
        receiver.url,
        "--webhook-events",
        "states",
        "--req-addr",
        worker.req,
        "--pub-addr",
        worker.pub,
    ]
    assert main(args) == 0
    _done(worker.client(), "cli-hook")
    wait_for(lambda: any(p["to"] == "done" for p in receiver.delivered()), what="the final state delivered")
    assert worker.client().status("cli-hook")["params"]["webhook"] == {"url": receiver.url, "events": "states"}
