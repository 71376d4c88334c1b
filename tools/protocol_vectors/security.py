"""The vectors of remote clients (docs/security.md): images over the wire, owners, and the new error codes."""

from __future__ import annotations

from .shared import SNAPSHOT, Vector, b

# A 1x1 PNG: small enough to read in the vector file, real enough to decode.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc000000301"
    "0100c9fe92ef0000000049454e44ae426082"
)
PIXEL_SHA256 = "57c5b0ba802ba3aa9c4ebd11a8ef32d173abc6dd5b3deabb7cd540b66e14edc5"

SECURITY: list[Vector] = [
    (
        "fetch_output request",
        "request",
        {"type": "fetch_output", "v": 1, "req_id": 30, "job_id": "sprite-001", "index": 0, "max_side": 256},
    ),
    ("fetch_preview request", "request", {"type": "fetch_preview", "v": 1, "req_id": 31, "job_id": "sprite-001"}),
    (
        "image reply, fetch_output",
        "reply",
        {
            "type": "image",
            "v": 1,
            "req_id": 30,
            "job_id": "sprite-001",
            "index": 0,
            "format": "png",
            "width": 1,
            "height": 1,
            "bytes": len(PIXEL),
            "sha256": PIXEL_SHA256,
            "image": b(PIXEL),
        },
    ),
    (
        "image reply, fetch_preview",
        "reply",
        {
            "type": "image",
            "v": 1,
            "req_id": 31,
            "job_id": "sprite-001",
            "seq": 7,
            "step": 3,
            "format": "png",
            "width": 1,
            "height": 1,
            "bytes": len(PIXEL),
            "sha256": PIXEL_SHA256,
            "image": b(PIXEL),
        },
    ),
    ("job reply with an owner", "reply", {"type": "job", "v": 1, "req_id": 32, **SNAPSHOT, "owner": "alice"}),
    (
        "error reply, forbidden",
        "reply",
        {
            "type": "error",
            "v": 1,
            "req_id": 33,
            "code": "forbidden",
            "message": "'generate' needs the role submitter; key 'eve' is viewer",
        },
    ),
    (
        "error reply, too large",
        "reply",
        {
            "type": "error",
            "v": 1,
            "req_id": 34,
            "code": "too_large",
            "message": "image 0 of job sprite-001 is 9000000 bytes; max_fetch_bytes is 8388608",
        },
    ),
    (
        "worker reply security field",
        "reply",
        {
            "type": "worker",
            "v": 1,
            "req_id": 35,
            "version": "0.1.0",
            "protocol": 1,
            "started_at": 1700000000000,
            "paused": False,
            "jobs": {"queued": 0, "done": 1},
            "backends": [],
            "workflows": ["txt2img"],
            "security": {"curve": True, "clients": 3, "rejected": 12},
        },
    ),
    # A proxy key (the web server's) speaking for one of its users (docs/security.md, "Proxies").
    (
        "generate request on behalf of a web user",
        "request",
        {
            "type": "generate",
            "v": 1,
            "req_id": 36,
            "on_behalf": {"name": "alice", "role": "submitter"},
            "id": "web-alice-1",
            "prompt": "knight",
        },
    ),
    (
        "cancel request on behalf of a web user",
        "request",
        {
            "type": "cancel",
            "v": 1,
            "req_id": 37,
            "on_behalf": {"name": "bob", "role": "submitter"},
            "job_id": "web-alice-1",
        },
    ),
    (
        "job reply owned by a proxy's user",
        "reply",
        {"type": "job", "v": 1, "req_id": 38, **SNAPSHOT, "owner": "web:alice"},
    ),
    (
        "error reply, on_behalf from a key that is no proxy",
        "reply",
        {
            "type": "error",
            "v": 1,
            "req_id": 39,
            "code": "forbidden",
            "message": "'on_behalf' is for proxy keys only; key 'alice' is submitter: send without it",
        },
    ),
]
