"""docs/protocol-vectors.json, both ways, and the vectors' agreement with the code that makes messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pixflow.errors import ErrorCode, RequestError
from pixflow.protocol import REPLY_TYPES, REQUEST_TYPES, decode_request, pack, unpack

VECTORS = json.loads((Path(__file__).resolve().parent.parent / "docs" / "protocol-vectors.json").read_text())["vectors"]


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
