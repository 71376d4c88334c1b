"""Bad requests over the real ROUTER socket: each gets its error code; the worker keeps serving; no job is lost."""

from __future__ import annotations

import msgpack
import pytest
import zmq

from pixflow.protocol import pack, unpack
from tests.helpers import run_job, states_of

GOOD = {"type": "generate", "v": 1, "prompt": "knight", "size": [64, 64], "steps": 8, "cfg_scale": 7.0}


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\xc1\xc1not msgpack", "bad_request"),
        (msgpack.packb([1, 2, 3]), "bad_request"),
        (msgpack.packb("ping"), "bad_request"),
        (pack({"v": 1}), "bad_request"),
        (pack({"type": "ping"}), "bad_request"),
        (pack({"type": "ping", "v": 2}), "unsupported_version"),
        (pack({"type": "ping", "v": "1"}), "unsupported_version"),
        (pack({"type": "explode", "v": 1}), "unknown_type"),
        (pack({"type": "ping", "v": 1, "req_id": [1]}), "bad_request"),
        (pack({**GOOD, "steps": 0}), "invalid_params"),
        (pack({**GOOD, "steps": 151}), "invalid_params"),
        (pack({**GOOD, "steps": "eight"}), "invalid_params"),
        (pack({**GOOD, "size": [63, 64]}), "invalid_params"),
        (pack({**GOOD, "size": [2056, 2056]}), "invalid_params"),
        (pack({**GOOD, "cfg_scale": -0.5}), "invalid_params"),
        (pack({**GOOD, "workflow": "no-such-workflow"}), "invalid_params"),
        (pack({**GOOD, "model": "missing.safetensors"}), "invalid_params"),
        (pack({**GOOD, "prompt": "x" * 100_000}), "invalid_params"),
        (pack({k: v for k, v in GOOD.items() if k != "prompt"}), "invalid_params"),
        (pack({"type": "status", "v": 1, "job_id": "nope"}), "not_found"),
        (pack({"type": "cancel", "v": 1, "job_id": "nope"}), "not_found"),
        (pack({"type": "cancel", "v": 1}), "invalid_params"),
        (pack({"type": "list_jobs", "v": 1, "state": "sleeping"}), "invalid_params"),
        (pack({"type": "list_jobs", "v": 1, "limit": -1}), "invalid_params"),
    ],
)
def test_bad_request_gets_its_code_and_a_message(worker, payload, code):
    client = worker.client()
    reply = client.send_raw(payload)
    assert reply["type"] == "error"
    assert reply["code"] == code
    assert isinstance(reply["message"], str) and len(reply["message"]) > 10
    assert client.ping()["type"] == "pong"
    assert client.call("list_jobs")["total"] == 0  # nothing was created


def test_messages_name_the_problem(worker):
    client = worker.client()
    reply = client.send_raw(pack({**GOOD, "model": "missing.safetensors"}))
    assert "missing.safetensors" in reply["message"] and "tiny-sd15.safetensors" in reply["message"]
    reply = client.send_raw(pack({**GOOD, "workflow": "nope"}))
    assert "txt2img" in reply["message"]


def test_req_id_is_echoed_even_on_errors(worker):
    client = worker.client()
    assert client.send_raw(pack({"type": "explode", "v": 1, "req_id": "abc"}))["req_id"] == "abc"
    assert client.send_raw(pack({"type": "ping", "v": 1, "req_id": 7}))["req_id"] == 7


def test_a_flood_of_garbage_does_not_disturb_a_running_job(worker):
    client, noisy = worker.client(), worker.client()
    client.subscribe_job("steady-1")
    client.wait_subscribed()
    client.call("generate", id="steady-1", prompt="knight", size=[64, 64], steps=8)
    for i in range(200):
        assert noisy.send_raw(bytes([i % 256]) * (i + 1))["type"] == "error"
    events = list(client.follow("steady-1", 10))
    assert states_of(events)[-1] == "done"


def test_req_and_dealer_clients_are_both_served(worker):
    context = zmq.Context.instance()
    req = context.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.setsockopt(zmq.RCVTIMEO, 5000)
    req.connect(worker.worker.req_endpoint)
    try:
        req.send(pack({"type": "ping", "v": 1, "req_id": 1}))
        assert unpack(req.recv())["type"] == "pong"
    finally:
        req.close(0)
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.RCVTIMEO, 5000)
    dealer.connect(worker.worker.req_endpoint)
    try:
        # Several requests in flight on one DEALER; replies come back in order, matched by req_id.
        for req_id in range(3):
            dealer.send_multipart([b"", pack({"type": "ping", "v": 1, "req_id": req_id})])
        replies = [dealer.recv_multipart() for _ in range(3)]
        assert [r[0] for r in replies] == [b""] * 3
        assert [unpack(r[1])["req_id"] for r in replies] == [0, 1, 2]
        dealer.send_multipart([pack({"type": "ping", "v": 1})])  # forgot the delimiter
        frames = dealer.recv_multipart()
        assert unpack(frames[-1])["code"] == "bad_request"
        dealer.send_multipart([b"", pack({"type": "ping", "v": 1}), b"extra"])
        assert unpack(dealer.recv_multipart()[-1])["code"] == "bad_request"
    finally:
        dealer.close(0)


def test_same_id_twice_returns_the_same_job_and_submits_once(worker, replay):
    client = worker.client()
    events = run_job(client, "twice-1")
    assert states_of(events)[-1] == "done"
    again = client.call("generate", id="twice-1", prompt="something else entirely", size=[64, 64])
    assert again["job_id"] == "twice-1" and again["existing"] is True and again["state"] == "done"
    assert client.call("list_jobs")["total"] == 1
    assert list(replay.call(lambda state: dict(state.prompts_received)).values()) == [1]
