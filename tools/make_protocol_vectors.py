"""Writes docs/protocol-vectors.json: run from the repo root after changing a message (then check the diff)."""

import json

import msgpack


def b(x):
    return {"$bin": x.hex()}


ts = 1795930196814
snapshot = {
    "job_id": "sprite-001",
    "state": "done",
    "stage": None,
    "passes": 0,
    "progress": {"node": "3", "value": 8, "max": 8},
    "outputs": [
        {
            "index": 0,
            "path": "/srv/pixflow/output/sprite-001/sprite-001_00.png",
            "node": "9",
            "comfy_filename": "pixflow_00001_.png",
            "width": 64,
            "height": 64,
            "bytes": 919,
        }
    ],
    "error": None,
    "params": {
        "prompt": "pixel art knight",
        "model": "tiny-sd15.safetensors",
        "steps": 8,
        "cfg_scale": 7.0,
        "negative_prompt": "",
        "seed": 1001,
        "sampler": "euler",
        "scheduler": "normal",
        "batch_size": 1,
        "workflow": None,
        "priority": 0,
        "previews": False,
        "size": [64, 64],
    },
    "workflow": "txt2img",
    "priority": 0,
    "backend": "local",
    "attempts": 1,
    "prompt_id": "f86c0005-86ee-4c90-88f9-79026f02c957",
    "seq": 10,
    "cancel_requested": False,
    "created_at": ts,
    "started_at": ts + 3,
    "finished_at": ts + 1650,
    "state_times": {
        "queued": ts,
        "loading": ts + 4,
        "encoding": ts + 590,
        "sampling": ts + 980,
        "decoding": ts + 1590,
        "saving": ts + 1630,
        "done": ts + 1650,
    },
    "last_preview": {"seq": 8, "step": 8, "node": "3", "format": "jpeg"},
    "overall": 1.0,
    "eta": 0.0,
    "stage_progress": None,
    "step_rate": None,
}
PROGRESS = {"overall": 0.5125, "eta": 1.45, "stage_progress": 0.125, "step_rate": None}
V = [
    ("ping request", "request", {"type": "ping", "v": 1, "req_id": 1}),
    ("pong reply", "reply", {"type": "pong", "v": 1, "req_id": 1, "version": "0.1.0", "protocol": 1, "started_at": ts}),
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
    ("job reply", "reply", {"type": "job", "v": 1, "req_id": 5, **snapshot}),
    ("status request for the worker", "request", {"type": "status", "v": 1}),
    (
        "worker reply",
        "reply",
        {
            "type": "worker",
            "v": 1,
            "version": "0.1.0",
            "protocol": 1,
            "started_at": ts,
            "paused": False,
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
    ("jobs reply", "reply", {"type": "jobs", "v": 1, "req_id": 6, "jobs": [snapshot], "total": 1, "offset": 0}),
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
    (
        "job.state event, created",
        "event:job.state.sprite-001",
        {
            "ts": ts,
            "job_id": "sprite-001",
            "seq": 1,
            "from": None,
            "to": "queued",
            "params": snapshot["params"],
            "workflow": "txt2img",
        },
    ),
    (
        "job.state event, stage change",
        "event:job.state.sprite-001",
        {
            "ts": ts + 980,
            "job_id": "sprite-001",
            "seq": 4,
            "from": "encoding",
            "to": "sampling",
            "passes": 0,
            "backend": "local",
            "overall": 0.3382,
            "eta": 4.5,
            "stage_progress": None,
            "step_rate": None,
        },
    ),
    (
        "job.state event, failed",
        "event:job.state.sprite-003",
        {
            "ts": ts,
            "job_id": "sprite-003",
            "seq": 5,
            "from": "saving",
            "to": "failed",
            "passes": 0,
            "backend": "local",
            "overall": None,
            "eta": None,
            "stage_progress": None,
            "step_rate": None,
            "error": {
                "code": "execution_error",
                "message": "SaveImage (node 9) raised Exception: Saving image outside the output folder is not allowed.",
                "node_id": "9",
                "node_type": "SaveImage",
                "exception_type": "Exception",
                "exception_message": "Saving image outside the output folder is not allowed.",
                "traceback": [],
            },
        },
    ),
    (
        "job.state event, done",
        "event:job.state.sprite-001",
        {
            "ts": ts + 1650,
            "job_id": "sprite-001",
            "seq": 10,
            "from": "saving",
            "to": "done",
            "passes": 0,
            "backend": "local",
            "overall": 1.0,
            "eta": 0.0,
            "stage_progress": None,
            "step_rate": None,
            "outputs": snapshot["outputs"],
        },
    ),
    (
        "job.progress event",
        "event:job.progress.sprite-001",
        {
            "ts": ts + 1082,
            "job_id": "sprite-001",
            "seq": 5,
            "stage": "sampling",
            "node": "3",
            "value": 1,
            "max": 8,
            **PROGRESS,
        },
    ),
    (
        "job.preview event",
        "event:job.preview.sprite-001",
        {
            "ts": ts + 1093,
            "job_id": "sprite-001",
            "seq": 6,
            "node": "3",
            "step": 1,
            "format": "jpeg",
            "image": b(bytes.fromhex("ffd8ffe000104a464946")),
        },
    ),
    (
        "job.output event",
        "event:job.output.sprite-001",
        {"ts": ts + 1649, "job_id": "sprite-001", "seq": 9, **snapshot["outputs"][0]},
    ),
    (
        "backend event",
        "event:backend.local",
        {
            "ts": ts,
            "name": "local",
            "url": "http://127.0.0.1:8188",
            "up": False,
            "reason": "ComfyUI at http://127.0.0.1:8188 is unreachable: [Errno 111] Connection refused",
            "version": None,
            "models": 0,
            "inflight": 0,
        },
    ),
    (
        "worker.stats event",
        "event:worker.stats",
        {
            "ts": ts,
            "queued": 1,
            "running": 1,
            "done": 7,
            "failed": 1,
            "cancelled": 0,
            "paused": False,
            "jobs_per_minute": 12,
            "backends_up": 1,
            "started_at": ts,
        },
    ),
]


def to_py(v):
    if isinstance(v, dict):
        if set(v) == {"$bin"}:
            return bytes.fromhex(v["$bin"])
        return {k: to_py(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_py(x) for x in v]
    return v


out = []
for name, kind, msg in V:
    entry = {"name": name, "kind": kind.split(":")[0]}
    if kind.startswith("event:"):
        entry["topic"] = kind.split(":", 1)[1]
    entry["message"] = msg
    entry["hex"] = msgpack.packb(to_py(msg), use_bin_type=True).hex()
    out.append(entry)
ABOUT = 'msgpack test vectors for pixflow wire protocol v1; see docs/protocol.md. Byte strings are {"$bin": hex}.'
with open("docs/protocol-vectors.json", "w") as f:
    json.dump({"about": ABOUT, "vectors": out}, f, indent=1)
print(len(out))
