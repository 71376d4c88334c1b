"""The `proxy` role (docs/security.md, "Proxies"): a proxy key's request with `on_behalf` is served as that user,
with the user's role up to the proxy's grant and the owner `<key>:<user>`; `on_behalf` from any other key is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pixflow.client import Client, ClientError
from pixflow.errors import RequestError
from pixflow.security.keys import load_keyring
from pixflow.security.roles import LOCAL_ADMIN, Role, parse_role_entry
from pixflow.testing import answers, wait_for
from tests.test_security import Keys

ALICE = {"name": "alice", "role": "submitter"}
BOB = {"name": "bob", "role": "submitter"}
BOSS = {"name": "boss", "role": "admin"}


@pytest.fixture
def proxied(replay, start_worker, tmp_path: Path):
    keys = Keys(tmp_path / "keys")
    keys.add("web", "proxy")
    keys.add("webadmin", "proxy:admin")
    running = start_worker(replay.url, max_queued_per_owner=2, **keys.settings())
    opened: list[Client] = []

    def client(name: str) -> Client:
        secret = keys.secrets / f"{name}.key_secret"
        opened.append(Client(running.req, running.pub, 5.0, server_key=keys.worker_public, client_key=secret))
        return opened[-1]

    root = client("root")
    wait_for(lambda: answers(root) and root.call("list_models")["models"], what="the worker to learn the models")
    yield client
    for each in opened:
        each.close()


def refused(client: Client, kind: str, **fields: Any) -> ClientError:
    with pytest.raises(ClientError) as error:
        client.call(kind, **fields)
    return error.value


def test_a_proxy_submits_as_its_users_and_each_acts_on_its_own_jobs_only(proxied):
    web, root = proxied("web"), proxied("root")
    root.call("pause")  # jobs stay queued: the per-owner limit counts them
    assert web.call("generate", id="a1", prompt="alice's", on_behalf=ALICE)["job_id"] == "a1"
    assert root.call("status", job_id="a1")["owner"] == "web:alice"
    denied = refused(web, "cancel", job_id="a1", on_behalf=BOB)
    assert denied.code == "forbidden" and "another key" in denied.message
    web.call("generate", id="w1", prompt="the proxy's own")  # without on_behalf: as itself, a submitter
    assert root.call("status", job_id="w1")["owner"] == "web"
    assert refused(web, "cancel", job_id="a1").code == "forbidden"  # the proxy's own name is not alice's
    assert web.call("cancel", job_id="a1", on_behalf=ALICE)["cancel_requested"] is True


def test_the_per_owner_limit_applies_per_user(proxied):
    web, root = proxied("web"), proxied("root")
    root.call("pause")
    web.call("generate", id="a1", prompt="one", on_behalf=ALICE)
    web.call("generate", id="a2", prompt="two", on_behalf=ALICE)
    full = refused(web, "generate", id="a3", prompt="three", on_behalf=ALICE)
    assert full.code == "queue_full" and "max_queued_per_owner is 2" in full.message
    web.call("generate", id="b1", prompt="bob's", on_behalf=BOB)  # bob has a queue of his own
    owners = {job["job_id"]: job["owner"] for job in root.call("list_jobs")["jobs"]}
    assert owners == {"a1": "web:alice", "a2": "web:alice", "b1": "web:bob"}


def test_on_behalf_from_a_key_that_is_no_proxy_is_forbidden(proxied):
    for name in ("alice", "root", "eve"):
        denied = refused(proxied(name), "generate", id=f"{name}-1", prompt="x", on_behalf=BOB)
        assert denied.code == "forbidden" and "'on_behalf' is for proxy keys only" in denied.message
        assert name in denied.message


def test_a_proxy_grants_no_role_above_its_own_grant(proxied):
    web, webadmin = proxied("web"), proxied("webadmin")
    denied = refused(web, "pause", on_behalf=BOSS)
    assert denied.code == "forbidden" and "up to the role submitter, not admin" in denied.message
    assert refused(web, "pause").code == "forbidden"  # nor as itself: a proxy is no admin
    viewer = refused(web, "generate", id="v1", prompt="x", on_behalf={"name": "carol", "role": "viewer"})
    assert viewer.code == "forbidden" and "needs the role submitter" in viewer.message
    assert webadmin.call("pause", on_behalf=BOSS)["paused"] is True  # `proxy:admin` speaks for admins too
    assert webadmin.call("resume", on_behalf=BOSS)["paused"] is False
    as_proxy = refused(webadmin, "ping", on_behalf={"name": "x", "role": "proxy"})
    assert as_proxy.code == "bad_request" and "on_behalf.role" in as_proxy.message


@pytest.mark.parametrize(
    "value",
    ["alice", {"name": "alice"}, {"name": "a:b", "role": "submitter"}, {"name": "", "role": "viewer"},
     {"name": "alice", "role": "owner"}, {"name": "alice", "role": "viewer", "extra": 1}],
)  # fmt: skip
def test_a_malformed_on_behalf_is_a_bad_request(proxied, value):
    assert refused(proxied("web"), "ping", on_behalf=value).code == "bad_request"


def test_without_curve_on_behalf_is_honoured_with_the_user_name_as_owner():
    alice = LOCAL_ADMIN.on_behalf(ALICE)
    assert (alice.name, alice.role) == ("alice", Role.SUBMITTER)
    with pytest.raises(RequestError) as denied:
        alice.check_owner("cancel", "b1", "bob")
    assert denied.value.code == "forbidden"
    assert LOCAL_ADMIN.on_behalf(BOSS).role == Role.ADMIN


def test_roles_yaml_entries_for_proxies(tmp_path: Path):
    assert parse_role_entry("proxy") == (Role.PROXY, Role.SUBMITTER)
    assert parse_role_entry("proxy:admin") == (Role.PROXY, Role.ADMIN)
    assert parse_role_entry("submitter") == (Role.SUBMITTER, None)
    for bad in ("proxy:proxy", "proxy:owner", "boss"):
        with pytest.raises(ValueError):
            parse_role_entry(bad)
    keys = Keys(tmp_path / "keys")
    keys.add("web", "proxy:admin")
    ring = load_keyring(keys.clients)
    assert ring.role_of("web") == Role.PROXY and ring.grant_of("web") == Role.ADMIN and ring.grant_of("alice") is None
