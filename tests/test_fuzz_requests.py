"""No bad input unanswered: arbitrary msgpack maps of every request type, over a real DEALER socket to a real
worker. Each gets an answer that is never `internal`, and the worker keeps serving."""

from __future__ import annotations

import uuid
from dataclasses import fields
from typing import Any

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixflow.config import Settings
from pixflow.protocol import REQUEST_TYPES, pack, unpack
from pixflow.vocabulary import JobState
from tests.helpers import run_job

# Keys each request reads; any other key is tried too. A type missing here is fuzzed with arbitrary keys only.
FIELDS: dict[str, tuple[str, ...]] = {
    "generate": (
        "id", "prompt", "negative_prompt", "model", "size", "steps", "cfg_scale", "seed", "sampler", "scheduler",
        "batch_size", "workflow", "priority", "previews", "owner",
    ),
    "cancel": ("job_id",),
    "status": ("job_id",),
    "list_jobs": ("state", "limit", "offset", "group_id"),
    "compare": ("group_id", "models", "seeds", "prompt", "size", "steps", "model", "id"),
    "group": ("group_id",),
    "fetch_output": ("job_id", "index", "max_side"),
    "fetch_preview": ("job_id", "max_side"),
}  # fmt: skip
DONE_JOB = "fuzz-done"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.binary(max_size=40),
)
anything = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
# Values that get past the first checks, so the fuzz reaches deeper code too.
plausible = st.one_of(
    st.sampled_from([DONE_JOB, "nope", "tiny-sd15.safetensors", "txt2img", "knight"]),
    st.sampled_from([s.value for s in JobState]),
    st.lists(st.sampled_from([s.value for s in JobState]), max_size=3),
    st.integers(min_value=-2, max_value=4096),
    st.lists(st.integers(min_value=0, max_value=4096), min_size=2, max_size=2),
)


def requests_of(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    known = st.fixed_dictionaries({}, optional={key: anything | plausible for key in FIELDS.get(kind, ())})
    extra = st.dictionaries(st.text(max_size=12), anything, max_size=3)
    return st.tuples(known, extra).map(lambda parts: {**parts[1], **parts[0], "type": kind, "v": 1})


def _no_metrics() -> dict[str, Any]:
    return {"metrics_addr": ""} if "metrics_addr" in {f.name for f in fields(Settings)} else {}


@pytest.fixture
def fuzzed(replay, start_worker):
    running = start_worker(replay.url, **_no_metrics())
    client = running.client()
    run_job(client, DONE_JOB)  # a finished job with an image, for fetch_output and friends
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.RCVTIMEO, 5000)
    dealer.connect(running.req)
    yield dealer, client
    dealer.close(0)


@pytest.mark.parametrize("kind", REQUEST_TYPES)
def test_no_request_is_answered_internal(fuzzed, kind):
    dealer, client = fuzzed

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(request=requests_of(kind))
    def check(request: dict[str, Any]) -> None:
        request["req_id"] = uuid.uuid4().hex
        dealer.send_multipart([b"", pack(request)])
        answer = unpack(dealer.recv_multipart()[-1])  # zmq.Again after 5 s: no answer is a failure too
        assert answer.get("req_id") == request["req_id"]
        assert answer.get("code") != "internal", (request, answer)

    check()
    assert client.ping()["type"] == "pong"
