"""The request and reply vectors, in the order docs/protocol.md lists the requests."""

from __future__ import annotations

from .shared import SNAPSHOT, TS, Vector

REQUESTS_AND_REPLIES: list[Vector] = [
    ("ping request", "request", {"type": "ping", "v": 1, "req_id": 1}),
    ("pong reply", "reply", {"type": "pong", "v": 1, "req_id": 1, "version": "0.1.0", "protocol": 1, "started_at": TS}),
    (
        "generate request, the Rust TUI's fields",
        "request",
        {
            "type": "generate",
            "v": 1,
            "req_id": 2,
            "id": "sprite-001",
            "prompt": "pixel art knight",
            "model": "tiny-sd15.safetensors",
            "size": [64, 64],
            "steps": 8,
            "cfg_scale": 7.0,
        },
    ),
    (
        "generate request, every field",
        "request",
        {
            "type": "generate",
            "v": 1,
            "req_id": "gen-3",
            "id": "sprite-002",
            "prompt": "pixel art wizard",
            "negative_prompt": "blurry",
            "model": "tiny-sd15.safetensors",
            "size": [64, 64],
            "steps": 8,
            "cfg_scale": 6.5,
            "seed": 42,
            "sampler": "euler",
            "scheduler": "normal",
            "batch_size": 4,
            "workflow": "txt2img",
            "priority": 5,
            "previews": True,
        },
    ),
    (
        "accepted reply",
        "reply",
        {"type": "accepted", "v": 1, "req_id": 2, "job_id": "sprite-001", "existing": False, "state": "queued"},
    ),
    ("cancel request", "request", {"type": "cancel", "v": 1, "req_id": 4, "job_id": "sprite-001"}),
    ("status request for a job", "request", {"type": "status", "v": 1, "req_id": 5, "job_id": "sprite-001"}),
    ("job reply", "reply", {"type": "job", "v": 1, "req_id": 5, **SNAPSHOT}),
    ("status request for the worker", "request", {"type": "status", "v": 1}),
    (
        "worker reply",
        "reply",
        {
            "type": "worker",
            "v": 1,
            "version": "0.1.0",
            "protocol": 1,
            "started_at": TS,
            "paused": False,
            "shutting_down": False,
            "queued": 1,
            "max_queued": 10000,
            "jobs": {
                "queued": 1,
                "loading": 0,
                "encoding": 0,
                "sampling": 1,
                "decoding": 0,
                "saving": 0,
                "done": 7,
                "failed": 1,
                "cancelled": 0,
            },
            "backends": [
                {
                    "name": "local",
                    "url": "http://127.0.0.1:8188",
                    "up": True,
                    "reason": None,
                    "version": "0.3.75",
                    "models": 1,
                    "inflight": 2,
                }
            ],
            "workflows": ["txt2img", "txt2img_2pass"],
        },
    ),
    (
        "list_jobs request",
        "request",
        {"type": "list_jobs", "v": 1, "req_id": 6, "state": ["queued", "sampling"], "limit": 50, "offset": 0},
    ),
    ("jobs reply", "reply", {"type": "jobs", "v": 1, "req_id": 6, "jobs": [SNAPSHOT], "total": 1, "offset": 0}),
    (
        "list_jobs request, the page before a job (keyset)",
        "request",
        {"type": "list_jobs", "v": 1, "req_id": 9, "state": "done", "limit": 1, "before": "9f2c41d0"},
    ),
    (
        "jobs reply, with the next page's key",
        "reply",
        {"type": "jobs", "v": 1, "req_id": 9, "jobs": [SNAPSHOT], "total": 3, "offset": 0, "next": "7b1e0a93"},
    ),
    ("list_models request", "request", {"type": "list_models", "v": 1, "req_id": 7}),
    (
        "models reply",
        "reply",
        {
            "type": "models",
            "v": 1,
            "req_id": 7,
            "models": ["tiny-sd15.safetensors"],
            "backends": {"local": ["tiny-sd15.safetensors"]},
        },
    ),
    ("list_workflows request", "request", {"type": "list_workflows", "v": 1, "req_id": 8}),
    (
        "workflows reply",
        "reply",
        {
            "type": "workflows",
            "v": 1,
            "req_id": 8,
            "workflows": [
                {
                    "name": "txt2img",
                    "description": "Text to image in one sampler pass",
                    "params": ["cfg_scale", "prompt", "steps"],
                    "defaults": {"cfg_scale": 7.0, "prompt": "pixel art knight", "steps": 8},
                }
            ],
            "default": "txt2img",
        },
    ),
    ("pause request", "request", {"type": "pause", "v": 1, "req_id": 10}),
    ("resume request", "request", {"type": "resume", "v": 1, "req_id": 11}),
    (
        "error reply, queue full",
        "reply",
        {
            "type": "error",
            "v": 1,
            "req_id": 12,
            "code": "queue_full",
            "message": "the queue holds 10000 jobs, its limit; try again later",
        },
    ),
    (
        "error reply, shutting down",
        "reply",
        {
            "type": "error",
            "v": 1,
            "req_id": 13,
            "code": "shutting_down",
            "message": "the worker is stopping and takes no new jobs; retry later",
        },
    ),
    (
        "error reply",
        "reply",
        {
            "type": "error",
            "v": 1,
            "req_id": 9,
            "code": "invalid_params",
            "message": "'steps' must be between 1 and 150, got 500",
        },
    ),
]
