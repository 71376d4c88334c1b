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


def _dealer(worker) -> zmq.Socket:
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.RCVTIMEO, 5000)
    dealer.connect(worker.worker.req_endpoint)
    return dealer


@pytest.mark.parametrize(
    "request_",
    [
        {"type": "ping", "v": 1, 7: "an integer key"},
        {"type": "ping", "v": 1, b"bin": "a bin key"},
        {"type": "ping", "v": 1, None: "a nil key"},
        {"type": "generate", "v": 1, "prompt": "knight", "params": {b"denoise": 0.5}},
        {"type": "list_jobs", "v": 1, "extra": [{"deeper": {3: "nested in a list"}}]},
    ],
    ids=["int", "bin", "nil", "nested bin", "nested int"],
)
def test_a_map_key_that_is_no_string_is_a_bad_request_that_keeps_its_req_id(worker, request_):
    dealer = _dealer(worker)
    try:
        dealer.send_multipart([b"", msgpack.packb({**request_, "req_id": "odd-key"}, use_bin_type=True)])
        answer = unpack(dealer.recv_multipart()[-1])
    finally:
        dealer.close(0)
    assert answer["code"] == "bad_request" and answer["req_id"] == "odd-key", answer
    assert "map keys must be strings" in answer["message"]
    assert worker.client().call("list_jobs")["total"] == 0  # the generate was not taken with its odd key dropped


def test_replies_on_one_connection_come_in_request_order_so_an_unreadable_one_is_placed(worker):
    """docs/protocol.md: an error without req_id (the payload could not be read) answers the request at its place."""
    dealer = _dealer(worker)
    try:
        dealer.send_multipart([b"", pack({"type": "ping", "v": 1, "req_id": "before"})])
        dealer.send_multipart([b"", b"\xc1 not msgpack"])
        dealer.send_multipart([b"", pack({"type": "list_jobs", "v": 1, "req_id": "after"})])
        answers = [unpack(dealer.recv_multipart()[-1]) for _ in range(3)]
    finally:
        dealer.close(0)
    assert [a.get("req_id") for a in answers] == ["before", None, "after"]
    assert answers[1]["code"] == "bad_request"


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        # 300,000 variables: past SQLite's limit (32,766 by default, 250,000 as Debian builds it)
        ({"type": "list_jobs", "state": ["queued"] * 300_000}, "'state' lists 300000 states; at most 9"),
        ({"type": "list_jobs", "state": ["queued", "done"] * 5}, "'state' lists 10 states; at most 9"),
        ({**GOOD, "params": {f"p{i}": 1 for i in range(100_000)}}, "'params' has 100000 entries; the limit is 64"),
        ({**GOOD, "images": {f"i{i}": b"" for i in range(1000)}}, "'images' has 1000 entries; the limit is 16"),
        ({**GOOD, "loras": [{"name": "x"}] * 100_000}, "'loras' has 100000 entries; the limit is 8"),
        ({**GOOD, "size": [64] * 100_000}, "'size' must be a list of two integers"),
        ({**GOOD, "type": "compare", "seeds": list(range(1_000_000))}, "'seeds' has 1000000 entries; at most 64"),
        ({**GOOD, "type": "compare", "models": ["m"] * 100_000}, "'models' has 100000 entries; at most 64"),
    ],
    ids=["state", "state just over", "params", "images", "loras", "size", "seeds", "models"],
)
def test_every_list_field_is_bounded(worker, request_, expected):
    reply = worker.client().send_raw(pack({"v": 1, **request_}))
    assert reply["code"] == "invalid_params" and reply["message"].startswith(expected), reply


def test_a_state_named_twice_filters_as_once(worker):
    client = worker.client()
    run_job(client, "twice-state")
    page = client.call("list_jobs", state=["done", "done", "queued"])
    assert page["total"] == 1 and [job["job_id"] for job in page["jobs"]] == ["twice-state"]


def test_a_store_error_is_internal_without_its_sql_text(worker, monkeypatch):
    store = worker.worker.store

    def failing_page(*_, **__):  # a real SQLite error from the worker's own connection, as a broken query gives
        return store._db.execute("SELECT no_such_column FROM jobs WHERE job_id IN (?)", ("secret-id",))

    monkeypatch.setattr(store, "page", failing_page)
    reply = worker.client().send_raw(pack({"type": "list_jobs", "v": 1}))
    assert reply["code"] == "internal", reply
    assert reply["message"] == "internal error: the job store failed (OperationalError)"
    monkeypatch.undo()
    assert worker.client().call("list_jobs")["total"] == 0  # and it keeps serving


def test_the_index_range_is_a_real_one(worker):
    client = worker.client()
    run_job(client, "indexed")
    reply = client.send_raw(pack({"type": "fetch_output", "v": 1, "job_id": "indexed", "index": -1}))
    assert reply["message"] == "'index' must be an integer from 0 to 4294967295, got -1"
    reply = client.send_raw(pack({"type": "fetch_output", "v": 1, "job_id": "indexed", "index": 2**32 - 1}))
    assert reply["code"] == "not_found" and "no index 4294967295" in reply["message"]


def test_non_finite_numbers_are_refused_before_they_reach_a_graph(worker):
    """JSON for ComfyUI has no NaN or infinity: a LoRA strength or an unbounded FLOAT parameter must not carry one."""
    client = worker.client()
    for fields in (
        {"workflow": "sprite_lora", "loras": [{"name": "style.safetensors", "strength": float("nan")}]},
        {"workflow": "sprite_lora", "loras": [{"name": "style.safetensors", "strength": float("inf")}]},
    ):
        reply = client.send_raw(pack({"type": "generate", "v": 1, "prompt": "knight", "size": [64, 64], **fields}))
        assert (reply["code"], "finite" in reply["message"]) == ("invalid_params", True), reply
    assert client.call("list_jobs")["total"] == 0 and client.ping()["type"] == "pong"


def test_fetch_output_names_a_missing_job_before_it_reads_the_index(worker):
    reply = worker.client().send_raw(pack({"type": "fetch_output", "v": 1, "job_id": "nobody", "index": -1}))
    assert reply["code"] == "not_found", reply
