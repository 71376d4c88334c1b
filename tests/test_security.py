"""Remote clients, safely: CURVE on both sockets over TCP loopback, roles, owners, revocation, safe defaults."""

from __future__ import annotations

import hashlib
import io
import shutil
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pixflow.client import Client, ClientError
from pixflow.errors import ConfigError
from pixflow.security.keys import new_keypair, set_role
from pixflow.serving.worker import Worker
from pixflow.settings import Settings, load_settings
from pixflow.testing import answers, wait_for
from pixflow.vocabulary import TOPIC_STATE
from tests.helpers import run_job

ROLES = {"root": "admin", "alice": "submitter", "bob": "submitter", "eve": "viewer"}


def no_metrics() -> dict[str, Any]:
    return {"metrics_addr": ""} if "metrics_addr" in {f.name for f in fields(Settings)} else {}


def hears(client: Client, timeout: float) -> bool:
    """Whether any event arrives within the timeout (worker.stats flows every 50 ms in these workers)."""
    try:
        client.next_event(timeout)
    except ClientError:
        return False
    return True


class Keys:
    """A worker keypair, client keypairs kept apart (as on the clients' machines), their public keys allowed."""

    def __init__(self, root: Path) -> None:
        self.secrets, self.clients = root / "secrets", root / "clients"
        self.clients.mkdir(parents=True)
        _, self.worker_secret = new_keypair("worker", root / "worker")
        self.worker_public = root / "worker" / "worker.key"
        for name, role in ROLES.items():
            self.add(name, role)
        self.stranger = new_keypair("stranger", self.secrets)[1]  # never allowed

    def add(self, name: str, role: str) -> None:
        public, _ = new_keypair(name, self.secrets)
        shutil.copy(public, self.clients / public.name)
        set_role(self.clients, name, role)

    def settings(self) -> dict[str, Any]:
        return {"curve_secret_key": self.worker_secret, "curve_clients_dir": self.clients, **no_metrics()}


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path / "keys")


@pytest.fixture
def secured(replay, start_worker, keys):
    running = start_worker(replay.url, **keys.settings())
    opened: list[Client] = []

    def client(name: str, timeout: float = 5.0) -> Client:
        secret = keys.stranger if name == "stranger" else keys.secrets / f"{name}.key_secret"
        opened.append(Client(running.req, running.pub, timeout, server_key=keys.worker_public, client_key=secret))
        return opened[-1]

    root = client("root")
    wait_for(lambda: answers(root) and root.call("list_models")["models"], what="the worker to learn the models")
    yield running, client
    for each in opened:
        each.close()


def test_an_allowed_key_runs_a_job_sees_its_events_and_fetches_its_image(secured):
    _, client = secured
    alice = client("alice")
    events = run_job(alice, "alice-1")
    assert [e["to"] for t, e in events if t.startswith(TOPIC_STATE)][-1] == "done"
    created = next(e for t, e in events if t.startswith(TOPIC_STATE) and e["from"] is None)
    assert created["params"]["owner"] == "alice"
    job = alice.call("status", job_id="alice-1")
    assert job["owner"] == "alice"
    image = alice.fetch_output("alice-1", 0)
    assert image["type"] == "image" and image["format"] == "png"
    assert hashlib.sha256(image["image"]).hexdigest() == image["sha256"]
    with Image.open(io.BytesIO(image["image"])) as decoded:
        assert decoded.size == (image["width"], image["height"])
    assert image["image"] == Path(job["outputs"][0]["path"]).read_bytes()
    thumb = alice.fetch_output("alice-1", 0, max_side=16)
    assert max(thumb["width"], thumb["height"]) <= 16
    with pytest.raises(ClientError) as denied:
        client("bob").fetch_output("alice-1", 0)  # another submitter's job
    assert denied.value.code == "forbidden"


def test_an_unknown_key_gets_nothing_and_is_counted_while_the_worker_serves_others(secured):
    _, client = secured
    root, stranger = client("root"), client("stranger", timeout=0.5)
    stranger.subscribe("")
    for _ in range(3):
        with pytest.raises(ClientError) as silent:
            stranger.ping()
        assert silent.value.code == "timeout"
        assert root.ping()["type"] == "pong"  # the worker is unaffected
    assert not hears(stranger, 0.3)  # no events either
    security = root.call("status")["security"]
    assert security["curve"] is True and security["rejected"] >= 1 and security["clients"] == len(ROLES)


def test_a_client_without_keys_gets_nothing(secured):
    running, _ = secured
    plain = Client(running.req, running.pub, timeout=0.5)
    try:
        with pytest.raises(ClientError):
            plain.ping()
    finally:
        plain.close()


def test_a_viewer_reads_but_cannot_submit(secured):
    _, client = secured
    eve = client("eve")
    assert eve.call("list_jobs")["total"] == 0
    assert eve.call("status")["type"] == "worker"
    for kind, fields_ in (("generate", {"prompt": "x"}), ("pause", {}), ("fetch_output", {"job_id": "x"})):
        with pytest.raises(ClientError) as denied:
            eve.call(kind, **fields_)
        assert denied.value.code == "forbidden" and "viewer" in denied.value.message


def test_a_viewer_reads_a_group_as_it_reads_the_groups_jobs(secured):
    _, client = secured
    alice, eve = client("alice"), client("eve")
    made = alice.call("compare", group_id="cmp", prompt="knight", size=[64, 64], steps=8, seeds=[1, 2])
    seen = eve.call("group", group_id="cmp")
    assert seen["type"] == "group" and seen["job_ids"] == made["job_ids"] == ["cmp-1", "cmp-2"]
    assert [job["job_id"] for job in seen["jobs"]] == [eve.call("status", job_id=j)["job_id"] for j in seen["job_ids"]]
    with pytest.raises(ClientError) as unknown:
        eve.call("group", group_id="no-such-group")
    assert unknown.value.code == "not_found"
    with pytest.raises(ClientError) as denied:
        eve.call("compare", prompt="x", seeds=[1])  # making a group still needs a submitter
    assert denied.value.code == "forbidden"


def test_owners_roles_and_the_per_owner_queue_limit(replay, start_worker, keys):
    running = start_worker(replay.url, max_queued_per_owner=2, **keys.settings())

    def client(name: str) -> Client:
        secret = keys.secrets / f"{name}.key_secret"
        return Client(running.req, running.pub, 5.0, server_key=keys.worker_public, client_key=secret)

    root, alice, bob = client("root"), client("alice"), client("bob")
    try:
        assert root.call("pause")["paused"] is True  # an admin may pause; jobs now stay queued
        with pytest.raises(ClientError) as denied:
            alice.call("resume")
        assert denied.value.code == "forbidden"
        alice.call("generate", id="a1", prompt="one")
        alice.call("generate", id="a2", prompt="two")
        with pytest.raises(ClientError) as full:
            alice.call("generate", id="a3", prompt="three")
        assert full.value.code == "queue_full" and "max_queued_per_owner is 2" in full.value.message
        bob.call("generate", id="b1", prompt="bob's")  # the limit is per key
        with pytest.raises(ClientError) as denied:
            bob.call("cancel", job_id="a1")
        assert denied.value.code == "forbidden"
        assert alice.call("cancel", job_id="a1")["cancel_requested"] is True
        assert root.call("cancel", job_id="b1")["cancel_requested"] is True  # an admin cancels any job
        owners = {job["job_id"]: job["owner"] for job in root.call("list_jobs")["jobs"]}
        assert owners == {"a1": "alice", "a2": "alice", "b1": "bob"}
        alice.call("generate", id="a3", prompt="three")  # a1 was cancelled: room again
    finally:
        for each in (root, alice, bob):
            each.close()


def test_a_revoked_key_stops_working_after_the_reload(secured, keys):
    _, client = secured
    root, bob = client("root"), client("bob", timeout=0.5)
    bob.subscribe("worker.")
    assert bob.ping()["type"] == "pong"
    assert hears(bob, 2.0)
    (keys.clients / "bob.key").unlink()
    wait_for(lambda: not answers(bob), timeout=30, what="bob's key to stop working")
    wait_for(lambda: answers(root), timeout=10, what="root to reconnect")  # the others reconnect by themselves
    wait_for(lambda: not hears(bob, 0.3), timeout=30, what="bob's events to stop")
    keys.add("carol", "viewer")  # a key added without a restart
    carol = client("carol")
    wait_for(lambda: answers(carol), timeout=30, what="carol's new key to work")


@pytest.mark.parametrize("address", ["tcp://0.0.0.0:*", "tcp://*:*"])
def test_refuses_to_bind_a_public_address_without_keys(tmp_path, replay, start_worker, address, caplog):
    settings = load_settings(
        overrides={"req_addr": address, "db_path": tmp_path / "db", "output_dir": tmp_path / "out", **no_metrics()},
        environ={},
    )
    with pytest.raises(ConfigError) as refused:
        Worker(settings)
    assert "pixflow keys new" in str(refused.value) and "--insecure" in str(refused.value)
    running = start_worker(replay.url, pub_addr=address, insecure=True, **no_metrics())  # starts, with a warning
    assert "INSECURE" in caplog.text
    assert running.client().ping()["type"] == "pong"


def test_keys_new_writes_a_private_secret_and_records_the_role(tmp_path):
    from pixflow.cli.main import main

    assert main(["keys", "new", "dana", "--dir", str(tmp_path), "--role", "submitter"]) == 0
    assert (tmp_path / "dana.key_secret").stat().st_mode & 0o777 == 0o600
    assert "dana: submitter" in (tmp_path / "roles.yaml").read_text()
    assert main(["keys", "new", "dana", "--dir", str(tmp_path)]) == 2  # never overwrites a key


def test_submit_wait_download_saves_the_images_where_the_client_runs(secured, keys, tmp_path, monkeypatch, capsys):
    from pixflow.cli.main import main

    running, _ = secured
    for variable in ("PIXFLOW_SERVER_KEY", "PIXFLOW_CLIENT_KEY"):
        monkeypatch.delenv(variable, raising=False)  # export_key_args sets them: undone after the test
    args = ["--req-addr", running.req, "--pub-addr", running.pub, "--server-key", str(keys.worker_public)]
    args += ["--client-key", str(keys.secrets / "alice.key_secret"), "--size", "64x64", "--steps", "8"]
    code = main(["submit", "knight", "--id", "dl-1", "--wait", "--download", str(tmp_path / "got"), *args])
    assert code == 0, capsys.readouterr()
    saved = tmp_path / "got" / "dl-1_00.png"
    assert saved.read_bytes() == next(running.output_dir.rglob("dl-1_00.png")).read_bytes()
