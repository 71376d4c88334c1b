"""Wire protocol v1: msgpack maps over ZeroMQ (docs/protocol.md). Clients need this module and pixflow.vocabulary.

Requests and replies travel on a ROUTER socket as [identity..., b"", payload]; events on a PUB
socket as [topic, payload]. Payloads are msgpack maps with string keys, no extension types,
bytes as bin, timestamps as integer milliseconds.
"""

from __future__ import annotations

from typing import Any

import msgpack

from pixflow.errors import ErrorCode, RequestError
from pixflow.vocabulary import now_ms as now_ms  # clients take the wire's clock from here

PROTOCOL_VERSION = 1
DEFAULT_REQ_ADDR = "tcp://127.0.0.1:5555"
DEFAULT_PUB_ADDR = "tcp://127.0.0.1:5556"
MAX_REQUEST_BYTES = 16 << 20  # larger messages are dropped by libzmq (ZMQ_MAXMSGSIZE); room for input images

REQUEST_TYPES = (
    "ping",
    "generate",
    "cancel",
    "status",
    "list_jobs",
    "list_models",
    "list_workflows",
    "pause",
    "resume",
    "compare",
    "group",
    "sheet",
    "retry",
    "fetch_output",
    "fetch_preview",
    "drain",
    "disable",
    "enable",
)
REPLY_TYPES = (
    "pong",
    "accepted",
    "job",
    "jobs",
    "worker",
    "models",
    "workflows",
    "group",
    "image",
    "backend",
    "error",
)


def _no_extensions(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not part of the protocol")


_WIRE_KINDS = {bytes: "bin", int: "integer", float: "float", bool: "boolean", type(None): "nil", list: "array"}


class _StringKeys:
    """msgpack's object_pairs_hook for requests: each map is built from its string keys only, and the first key of
    another type (bin, integer, ...) at any depth is remembered, so that the request is refused with `bad_request`
    and still carries its `req_id`. (strict_map_key admits bin keys, and raises on the others before the req_id
    can be read.) Only strings are ever hashed, so integer keys cannot flood a dict with colliding hashes."""

    def __init__(self) -> None:
        self.odd_key: str | None = None  # the wire type of the first non-string key

    def __call__(self, pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
        if all(type(key) is str for key, _ in pairs):
            return dict(pairs)
        if self.odd_key is None:
            odd = next(type(key) for key, _ in pairs if type(key) is not str)
            self.odd_key = _WIRE_KINDS.get(odd, odd.__name__)
        return {key: value for key, value in pairs if type(key) is str}


def pack(message: dict[str, Any]) -> bytes:
    return msgpack.packb(message, use_bin_type=True)


def unpack(payload: bytes) -> Any:
    """Decode one msgpack value, strictly: one object, string map keys, no extension types."""
    return msgpack.unpackb(payload, raw=False, strict_map_key=True, ext_hook=_no_extensions)


def decode_request(payload: bytes) -> dict[str, Any]:
    """Check the envelope of a request; raise RequestError with the code the reply will carry."""
    keys = _StringKeys()
    try:
        message = msgpack.unpackb(
            payload, raw=False, strict_map_key=False, object_pairs_hook=keys, ext_hook=_no_extensions
        )
    except Exception as e:  # msgpack raises several unrelated types for bad input
        raise RequestError(ErrorCode.BAD_REQUEST, f"request is not valid msgpack: {e}") from e
    if not isinstance(message, dict):
        kind = type(message).__name__
        raise RequestError(ErrorCode.BAD_REQUEST, f"request must be a msgpack map, got {kind}")
    req_id = message.get("req_id")
    if req_id is not None and (isinstance(req_id, bool) or not isinstance(req_id, str | int)):
        raise RequestError(ErrorCode.BAD_REQUEST, "'req_id' must be a string or an integer")
    if keys.odd_key is not None:
        problem = f"map keys must be strings (the protocol has no other); the request has a {keys.odd_key} key"
        raise RequestError(ErrorCode.BAD_REQUEST, problem, req_id)
    try:
        _check_envelope(message)
    except RequestError as e:
        e.req_id = req_id
        raise
    return message


def _check_envelope(message: dict[str, Any]) -> None:
    kind = message.get("type")
    if not isinstance(kind, str):
        raise RequestError(ErrorCode.BAD_REQUEST, "request needs a string field 'type'")
    version = message.get("v")
    if version is None:
        raise RequestError(ErrorCode.BAD_REQUEST, f"request needs 'v': {PROTOCOL_VERSION}")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise RequestError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"protocol version {version!r} is not supported; this worker speaks v{PROTOCOL_VERSION}",
        )
    if kind not in REQUEST_TYPES:
        raise RequestError(ErrorCode.UNKNOWN_TYPE, f"unknown request type {kind!r}; known: {', '.join(REQUEST_TYPES)}")


def reply(kind: str, req_id: Any = None, **fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"type": kind, "v": PROTOCOL_VERSION}
    if req_id is not None:
        message["req_id"] = req_id
    message.update(fields)
    return message


def error_reply(code: ErrorCode, message: str, req_id: Any = None) -> dict[str, Any]:
    return reply("error", req_id, code=code.value, message=message)


def job_topic(prefix: str, job_id: str) -> bytes:
    return f"{prefix}{job_id}".encode()
