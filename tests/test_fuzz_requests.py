"""No bad input unanswered: arbitrary msgpack maps of every request type, over a real DEALER socket to a real
worker. Each gets an answer that is never `internal`, and the worker keeps serving."""

from __future__ import annotations

import uuid
from dataclasses import fields
from typing import Any

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixflow.protocol import REQUEST_TYPES, unpack
from pixflow.settings import Settings
from pixflow.vocabulary import JobState
from tests.helpers import run_job
from tests.test_declared_sizes import HUGE, SMALL, huge_jpeg, huge_png

# Keys each request reads; any other key is tried too. A type missing here is fuzzed with arbitrary keys only.
FIELDS: dict[str, tuple[str, ...]] = {
    "generate": (
        "id", "prompt", "negative_prompt", "model", "size", "steps", "cfg_scale", "seed", "sampler", "scheduler",
        "batch_size", "workflow", "priority", "previews", "owner", "params", "images", "loras",
    ),
    "cancel": ("job_id",),
    "status": ("job_id",),
    "list_jobs": ("state", "limit", "offset", "group_id", "before"),
    "compare": ("group_id", "models", "seeds", "prompt", "size", "steps", "model", "seed", "id", "params", "loras"),
    "group": ("group_id",),
    "fetch_output": ("job_id", "index", "max_side"),
    "fetch_preview": ("job_id", "max_side"),
    "drain": ("backend",),
    "disable": ("backend",),
    "enable": ("backend",),
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
    st.sampled_from([DONE_JOB, "nope", "tiny-sd15.safetensors", "txt2img", "sprite_img2img", "knight", "replay"]),
    st.sampled_from([s.value for s in JobState]),
    st.lists(st.sampled_from([s.value for s in JobState]), max_size=3),
    st.integers(min_value=-2, max_value=4096),
    st.lists(st.integers(min_value=0, max_value=4096), min_size=2, max_size=2),
)
# Input images: a small real one, and headers declaring canvases far over max_image_side (PNG, JPEG, WebP).
image_bytes = st.sampled_from([SMALL, *HUGE.values()]) | st.integers(1, 2**31 - 1).flatmap(
    lambda side: st.sampled_from([huge_png(side, side), huge_png(side, 1), huge_jpeg(min(side, 65_535), 8)])
)
images = st.dictionaries(st.sampled_from(["reference", "mask"]) | st.text(max_size=6), image_bytes, max_size=2)
# Huge lists and maps, one of each shape a list field takes (made once: the fuzz sends them, it need not draw them).
HUGE_STATES = ["queued"] * 300_000  # past SQLite's variables (32,766 as built by default, 250,000 by Debian)
HUGE_VALUES = (
    list(range(100_000)),
    ["tiny-sd15.safetensors"] * 20_000,
    [{"name": "tiny-lora.safetensors", "strength": 1.0}] * 20_000,
    [64] * 50_000,
    {f"p{i}": i for i in range(20_000)},
    {f"image{i}": SMALL for i in range(2_000)},
)
huge = st.sampled_from(HUGE_VALUES)  # HUGE_STATES only as the one huge field of a request: 2 MB of msgpack
# Keys the protocol refuses (bin, integers, nil, ...), at the top level or nested in a field's value.
odd_key = st.binary(max_size=4) | st.integers(-(2**63), 2**64 - 1) | st.none() | st.booleans() | st.floats()
odd_map = st.dictionaries(odd_key, anything, min_size=1, max_size=2)
oddly_nested = st.one_of(
    odd_map, st.lists(odd_map, min_size=1, max_size=2), st.dictionaries(st.text(max_size=4), odd_map, min_size=1)
)
field_values = anything | plausible | images | huge | oddly_nested


# A request of each kind that gets past every check, to carry one bad field deep into the worker.
VALID: dict[str, dict[str, Any]] = {
    "generate": {"prompt": "knight", "size": [64, 64], "steps": 8, "workflow": "sprite_img2img"},
    "compare": {"prompt": "knight", "size": [64, 64], "steps": 8, "seeds": [1, 2]},
    "list_jobs": {"state": "done"},
    **{kind: {"job_id": DONE_JOB} for kind in ("cancel", "status", "fetch_output", "fetch_preview")},
}
# The fields that are lists or maps: each is tried with a huge one.
LIST_FIELDS = {
    "generate": ("size", "params", "images", "loras"),
    "compare": ("models", "seeds", "size", "params", "loras"),
    "list_jobs": ("state",),
}


def _with(kind: str, key: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return values.map(lambda value: {**VALID.get(kind, {}), key: value})


def targeted(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """The classes a plain draw almost never builds: one field of a good request made bad in a known way."""
    keys = st.sampled_from(FIELDS.get(kind) or ("extra",))
    one_field = keys.flatmap(lambda key: _with(kind, key, field_values))
    odd_nested = keys.flatmap(lambda key: _with(kind, key, oddly_nested))
    odd_top = odd_map.map(lambda odd: {**odd, **VALID.get(kind, {})})
    choices = [one_field, odd_nested, odd_top]
    if kind in LIST_FIELDS:
        every_huge = st.sampled_from([HUGE_STATES, *HUGE_VALUES])
        choices.append(st.sampled_from(LIST_FIELDS[kind]).flatmap(lambda key: _with(kind, key, every_huge)))
    if kind == "generate":  # declared sizes: the image is the only thing wrong with the request
        choices.append(_with(kind, "images", image_bytes.map(lambda data: {"reference": data})))
    return st.one_of(choices)


def requests_of(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    known = st.fixed_dictionaries({}, optional={key: field_values for key in FIELDS.get(kind, ())})
    extra = st.dictionaries(st.text(max_size=12), anything, max_size=3)
    top_odd = st.none() | odd_map  # now and then a key of another type beside the request's own
    drawn = st.tuples(known, extra, top_odd).map(lambda parts: {**(parts[2] or {}), **parts[1], **parts[0]})
    return (drawn | targeted(kind)).map(lambda request: {**request, "type": kind, "v": 1})


def has_odd_key(value: Any) -> bool:
    """Whether a map anywhere in the value has a key that is no string (which the protocol refuses)."""
    if isinstance(value, dict):
        return any(type(key) is not str or has_odd_key(item) for key, item in value.items())
    return isinstance(value, list) and any(has_odd_key(item) for item in value)


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
        dealer.send_multipart([b"", msgpack.packb(request, use_bin_type=True)])  # odd keys too (pack says str)
        answer = unpack(dealer.recv_multipart()[-1])  # zmq.Again after 5 s: no answer is a failure too
        assert answer.get("req_id") == request["req_id"]
        assert answer.get("code") != "internal", (request, answer)
        if has_odd_key(request):  # never taken with the odd key dropped, wherever it is
            assert answer.get("code") == "bad_request", (request, answer)

    check()
    assert client.ping()["type"] == "pong"
