"""JSON Schemas (2020-12, as OpenAPI 3.1 takes them) of the bodies the web API reads and the answers it writes.

They say what docs/protocol.md says of each request and reply, in JSON: bytes travel as base64 strings. The worker
still does every check itself (its `invalid_params` answers are passed through), so a schema here describes and
never decides; fields the protocol may add within version 1 are allowed everywhere (`additionalProperties`).
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
NULLABLE_INT: Schema = {"type": ["integer", "null"]}
NULLABLE_NUMBER: Schema = {"type": ["number", "null"]}
ANY_OBJECT: Schema = {"type": "object", "additionalProperties": True}
NULLABLE_OBJECT: Schema = {"type": ["object", "null"], "additionalProperties": True}
BASE64: Schema = {"type": "string", "contentEncoding": "base64"}
ID: Schema = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]*$", "maxLength": 128}
STATE: Schema = {
    "type": "string",
    "enum": ["queued", "loading", "encoding", "sampling", "decoding", "saving", "done", "failed", "cancelled"],
}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), doc: str = "") -> Schema:
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": True}
    if required:
        schema["required"] = list(required)
    if doc:
        schema["description"] = doc
    return schema


def ranged(low: int, high: int, doc: str = "") -> Schema:
    schema: Schema = {"type": "integer", "minimum": low, "maximum": high}
    return {**schema, "description": doc} if doc else schema


def array(items: Schema, max_items: int | None = None) -> Schema:
    schema: Schema = {"type": "array", "items": items}
    return {**schema, "maxItems": max_items} if max_items is not None else schema


def pair(low: int, high: int, doc: str) -> Schema:
    return {**array(ranged(low, high), 2), "minItems": 2, "description": doc}


# The fields of `generate` (docs/protocol.md, "generate"), shared by `compare` and `sheet` but `id`.
JOB_FIELDS: dict[str, Schema] = {
    "prompt": {"type": "string", "minLength": 1, "maxLength": 10_000},
    "negative_prompt": {"type": "string", "maxLength": 10_000},
    "model": {**STRING, "description": "a checkpoint GET /v1/models lists (default: the workflow's)"},
    "size": pair(16, 2048, "width, height: multiples of 8 (default [512, 512])"),
    "steps": ranged(1, 150, "default 20"),
    "cfg_scale": {"type": "number", "minimum": 0, "maximum": 100, "description": "default 7.0"},
    "seed": ranged(0, 2**64 - 1, "default: drawn, and recorded in the job"),
    "sampler": {**STRING, "description": "a ComfyUI sampler name (default euler)"},
    "scheduler": {**STRING, "description": "a ComfyUI scheduler name (default normal)"},
    "batch_size": ranged(1, 64, "default 1"),
    "workflow": {**STRING, "description": "a name GET /v1/workflows lists (default: the worker's)"},
    "priority": ranged(-1000, 1000, "higher runs first (default 0)"),
    "previews": {**BOOL, "description": "publish live preview frames (default false)"},
    "params": {
        "type": "object",
        "maxProperties": 64,
        "additionalProperties": {"type": ["string", "number", "boolean"]},
        "description": "the workflow's own parameters (GET /v1/workflows, `parameters` with source `params`)",
    },
    "images": {
        "type": "object",
        "maxProperties": 16,
        "additionalProperties": BASE64,
        "description": "input images by the workflow's image names: PNG, JPEG or WebP bytes, base64",
    },
    "loras": array(obj({"name": STRING, "strength": NUMBER}, ("name",)), 8),
    "webhook": {
        **obj({"url": STRING, "events": {"type": "string", "enum": ["final", "states"]}}, ("url",)),
        "description": "POST the job's end (or every state) there, signed: docs/webhooks.md",
    },
}
JOB_ID: Schema = {**ID, "description": "the job's id (default: a new one); a known id answers that job"}
GENERATE = obj({"id": JOB_ID, **JOB_FIELDS}, ("prompt",))
GROUP_ID: Schema = {**ID, "maxLength": 120, "description": "the group's id (default: a new one); a known id answers it"}
COMPARE = obj(
    {**JOB_FIELDS, "models": array(STRING, 64), "seeds": array(ranged(0, 2**64 - 1), 64), "group_id": GROUP_ID},
    ("prompt",),
    "one prompt over several models and/or seeds: one job per (model, seed)",
)
SHEET_ROW: Schema = {"oneOf": [STRING, obj({"name": STRING, "prompt": STRING}, ("name",))]}
SHEET = obj(
    {
        **JOB_FIELDS,
        "rows": {**array(SHEET_ROW, 16), "minItems": 1},
        "frames": ranged(1, 16, "default 4"),
        "cell": pair(8, 512, "each frame's cell in pixels (default [64, 64])"),
        "palette": STRING,
        "duration_ms": ranged(1, 65535, "default 100"),
        "seed_step": ranged(0, 1_000_000, "default 1"),
        "group_id": GROUP_ID,
    },
    ("prompt", "rows"),
    "a character's sprite sheet: rows of frames, one job per cell",
)
RETRY = obj(
    {"id": {**ID, "description": "the new job's id (default: a new one)"}, "seed": INT, "new_seed": BOOL},
    doc="an ended job's request again, as a new job",
)

# Answers.
ERROR = obj({"code": STRING, "message": STRING}, ("code", "message"), "the protocol's error code and message")
JOB = obj(
    {
        "job_id": STRING,
        "owner": NULLABLE_STRING,
        "group_id": NULLABLE_STRING,
        "state": STATE,
        "stage": NULLABLE_STRING,
        "passes": INT,
        "progress": NULLABLE_OBJECT,
        "outputs": array(ANY_OBJECT),
        "error": NULLABLE_OBJECT,
        "params": ANY_OBJECT,
        "workflow": STRING,
        "priority": INT,
        "backend": NULLABLE_STRING,
        "attempts": INT,
        "seq": INT,
        "cancel_requested": BOOL,
        "wait_reason": NULLABLE_STRING,
        "created_at": NULLABLE_INT,
        "started_at": NULLABLE_INT,
        "finished_at": NULLABLE_INT,
        "overall": NULLABLE_NUMBER,
        "eta": NULLABLE_NUMBER,
    },
    ("job_id", "state"),
    "a job's snapshot (docs/protocol.md, 'The job snapshot')",
)
ACCEPTED = obj({"job_id": STRING, "existing": BOOL, "state": STATE, "retry_of": STRING}, ("job_id", "existing"))
JOBS = obj({"jobs": array(JOB), "total": INT, "offset": INT, "next": NULLABLE_STRING}, ("jobs", "total"))
GROUP = obj(
    {
        "group_id": STRING,
        "job_ids": array(STRING),
        "existing": BOOL,
        "jobs": array(JOB),
        "finished": BOOL,
        "contact_sheet": NULLABLE_STRING,
        "sprite_sheet": NULLABLE_OBJECT,
    },
    ("group_id", "job_ids"),
)
BACKEND = obj({"name": STRING, "url": STRING, "up": BOOL, "state": STRING, "mode": STRING}, ("name",))
WORKER = obj(
    {
        "version": STRING,
        "protocol": INT,
        "started_at": INT,
        "paused": BOOL,
        "jobs": {"type": "object", "additionalProperties": INT},
        "backends": array(BACKEND),
        "workflows": array(STRING),
        "shutting_down": BOOL,
        "queued": INT,
        "max_queued": INT,
    },
    ("version", "paused"),
)
MODELS = obj({"models": array(STRING), "backends": {"type": "object", "additionalProperties": array(STRING)}})
WORKFLOWS = obj({"workflows": array(obj({"name": STRING, "parameters": array(ANY_OBJECT)})), "default": STRING})
IMAGE_META = obj(
    {
        "job_id": STRING,
        "group_id": STRING,
        "index": INT,
        "variant": STRING,
        "name": STRING,
        "seq": INT,
        "step": NULLABLE_INT,
        "format": STRING,
        "width": INT,
        "height": INT,
        "bytes": INT,
        "sha256": STRING,
    },
    ("format", "bytes", "sha256"),
    "the image's figures without its bytes (?meta=1)",
)
HEALTH = obj(
    {"status": {"type": "string", "enum": ["ok", "degraded", "down"]}, "checks": array(ANY_OBJECT)},
    ("status",),
)
ME = obj(
    {"name": STRING, "role": {"type": "string", "enum": ["viewer", "submitter", "admin"]}},
    ("name", "role"),
    "the caller's token: its name in the tokens file (`local` without one) and its role",
)
