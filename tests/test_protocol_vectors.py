"""docs/protocol-vectors.json, both ways, and the vectors' agreement with the code that makes messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pixflow.client import Client, ClientError
from pixflow.errors import ErrorCode, RequestError
from pixflow.protocol import REPLY_TYPES, REQUEST_TYPES, decode_request, pack, unpack
from pixflow.replay.models import BackendProfile
from pixflow.testing import wait_for
from pixflow.vocabulary import TOPIC_BACKEND
from tests.helpers import pool_worker

VECTORS = json.loads((Path(__file__).resolve().parent.parent / "docs" / "protocol-vectors.json").read_text())["vectors"]
BY_NAME = {v["name"]: v["message"] for v in VECTORS}
A, B = "a.safetensors", "b.safetensors"


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return bytes.fromhex(value["$bin"])
        return {key: _from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    return value


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_encodes_to_its_bytes(vector):
    assert pack(_from_json(vector["message"])).hex() == vector["hex"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_bytes_decode_to_its_message(vector):
    assert unpack(bytes.fromhex(vector["hex"])) == _from_json(vector["message"])


def test_vectors_cover_every_request_reply_and_topic():
    requests = {v["message"]["type"] for v in VECTORS if v["kind"] == "request"}
    replies = {v["message"]["type"] for v in VECTORS if v["kind"] == "reply"}
    topics = {
        v["topic"].rsplit(".", 1)[0] if v["topic"].startswith("job.") else v["topic"].split(".")[0]
        for v in VECTORS
        if v["kind"] == "event"
    }
    assert requests == set(REQUEST_TYPES)
    assert replies == set(REPLY_TYPES)
    assert topics == {"job.state", "job.progress", "job.preview", "job.output", "backend", "worker", "group"}


@pytest.mark.parametrize("vector", [v for v in VECTORS if v["kind"] == "request"], ids=lambda v: v["name"])
def test_request_vectors_pass_envelope_checks(vector):
    assert decode_request(bytes.fromhex(vector["hex"]))["type"] == vector["message"]["type"]


def test_extension_types_and_non_string_keys_are_rejected():
    import msgpack

    with pytest.raises(RequestError) as info:
        decode_request(msgpack.packb(msgpack.ExtType(1, b"x")))
    assert info.value.code == ErrorCode.BAD_REQUEST
    with pytest.raises(RequestError) as info:
        decode_request(msgpack.packb({1: "a"}))
    assert info.value.code == ErrorCode.BAD_REQUEST


def in_order_of(keys: list[str], order: list[str]) -> list[str]:
    """`order` restricted to `keys`: equal to `keys` when the vector lists its fields in the worker's order."""
    return [key for key in order if key in keys]


@pytest.fixture
def two_gpus(tmp_path: Path) -> Iterator[Client]:
    """A worker over two replay GPUs with one checkpoint each: a job for B can only run on gpu1."""
    with pool_worker(tmp_path, BackendProfile((A,)), BackendProfile((B,))) as running:
        yield running.client()


def test_the_pool_vectors_have_the_workers_fields_in_its_order(two_gpus: Client) -> None:
    """Byte-identical re-encoding by a typed client (field order = struct order) needs the vectors in the
    worker's own order: ask a live worker for the same messages and compare."""
    client = two_gpus
    client.subscribe(f"{TOPIC_BACKEND}gpu1")
    client.wait_subscribed()
    drained = client.call("drain", backend="gpu1")
    reply_vector = list(BY_NAME["backend reply, every figure"])
    assert list(drained) == reply_vector
    assert drained["name"] == "gpu1" and drained["state"] == drained["mode"] == "draining"
    _, event = client.next_event(5.0, want=lambda topic, e: topic == f"{TOPIC_BACKEND}gpu1" and e["mode"] == "draining")
    assert list(event) == list(BY_NAME["backend event, draining"])
    assert all(list(b) == list(BY_NAME["worker reply, a pool"]["backends"][0]) for b in client.status()["backends"])

    # A job only the draining backend can run waits, and says why.
    client.call("generate", id="vectors-wait-1", prompt="pixel art knight", model=B, size=[64, 64], steps=8)
    waiting = wait_for(
        lambda: (job := client.status("vectors-wait-1"))["wait_reason"] and job, what="a wait_reason on the job"
    )
    assert waiting["state"] == "queued" and "gpu1 draining" in waiting["wait_reason"], waiting["wait_reason"]
    for name in ("job reply", "job reply, queued with a wait reason"):
        keys = list(BY_NAME[name])
        assert in_order_of(keys, list(waiting)) == keys, name

    assert list(client.call("disable", backend="gpu1")) == reply_vector
    enabled = client.call("enable", backend="gpu1")
    assert enabled["state"] == "up" and enabled["mode"] == "active"
    done = wait_for(lambda: (job := client.status("vectors-wait-1"))["state"] == "done" and job, what="the job done")
    assert done["wait_reason"] is None and done["backend"] == "gpu1"

    with pytest.raises(ClientError) as info:
        client.call("drain", backend="no-such-backend")
    assert info.value.code == "not_found"
