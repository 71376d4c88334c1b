"""What several vectors share: one job's snapshot, its progress figures and the clock they start from."""

from __future__ import annotations

from typing import Any

# (name, kind, message): kind is "request", "reply" or "event:TOPIC".
Vector = tuple[str, str, dict[str, Any]]


def b(data: bytes) -> dict[str, str]:
    """A byte string as JSON can hold it; make_protocol_vectors.py turns it back into bytes to pack it."""
    return {"$bin": data.hex()}


TS = 1795930196814  # a fixed clock (ms), so the file only changes when a message does
SNAPSHOT: dict[str, Any] = {
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
    "wait_reason": None,  # set only while the job waits in pixflow's queue (see pool.py)
    "created_at": TS,
    "started_at": TS + 3,
    "finished_at": TS + 1650,
    "state_times": {
        "queued": TS,
        "loading": TS + 4,
        "encoding": TS + 590,
        "sampling": TS + 980,
        "decoding": TS + 1590,
        "saving": TS + 1630,
        "done": TS + 1650,
    },
    "last_preview": {"seq": 8, "step": 8, "node": "3", "format": "jpeg"},
    "overall": 1.0,
    "eta": 0.0,
    "stage_progress": None,
    "step_rate": None,
}
PROGRESS = {"overall": 0.5125, "eta": 1.45, "stage_progress": 0.125, "step_rate": None}
