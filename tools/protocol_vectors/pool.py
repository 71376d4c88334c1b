"""The vectors of the backend pool (docs/pool.md): drain, disable, enable, the `backend` reply, the pool's figures
in `backend.<name>` and `worker`, and a queued job's `wait_reason`.

Figures are in the order `BackendState.describe` writes them (tests/test_protocol_vectors.py checks it), so that
a client whose struct follows that order re-encodes them byte for byte. Nil figures are avoided where a field is
new: a typed client skips an absent optional field, so a nil one could not come back as the same bytes.
"""

from __future__ import annotations

from typing import Any

from .shared import SNAPSHOT, TS, Vector

# A backend that went down and was then disabled: every figure has a value, `reason` included.
DISABLED: dict[str, Any] = {
    "name": "box2-gpu0",
    "url": "http://10.0.0.6:8188",
    "up": False,
    "state": "down",  # health first: a down backend is `down` whatever its mode
    "mode": "disabled",
    "reason": "ComfyUI at http://10.0.0.6:8188 is unreachable: [Errno 111] Connection refused",
    "version": "0.3.75",
    "labels": {"machine": "box2", "gpu": "0"},
    "models": 2,
    "loras": 3,
    "node_types": 612,
    "inflight": 1,
    "max_inflight": 2,
    "queue_remaining": 0,
    "loaded_model": "b.safetensors",
    "jobs_done": 41,
    "seconds_per_job": 2.35,
    "model_switches": 4,
}

# An up backend taking no new prompts while it finishes what it holds.
DRAINING: dict[str, Any] = {
    "name": "box1-gpu1",
    "url": "http://10.0.0.5:8189",
    "up": True,
    "state": "draining",
    "mode": "draining",
    "reason": None,
    "version": "0.3.75",
    "labels": {"machine": "box1", "gpu": "1"},
    "models": 3,
    "loras": 0,
    "node_types": 612,
    "inflight": 1,
    "max_inflight": 1,
    "queue_remaining": 1,
    "loaded_model": "a.safetensors",
    "jobs_done": 17,
    "seconds_per_job": 1.42,
    "model_switches": 2,
}

WAITING = {
    **SNAPSHOT,
    "job_id": "sprite-004",
    "state": "queued",
    "progress": None,
    "outputs": [],
    "backend": None,
    "attempts": 0,
    "seq": 1,
    "wait_reason": "every backend that can run it is down or not taking jobs: box1-gpu1 draining, box2-gpu0 down",
    "started_at": None,
    "finished_at": None,
    "state_times": {"queued": TS},
    "last_preview": None,
    "overall": None,
    "eta": None,
    "stage_progress": None,
    "step_rate": None,
}

POOL: list[Vector] = [
    ("drain request", "request", {"type": "drain", "v": 1, "req_id": 40, "backend": "box1-gpu1"}),
    ("disable request", "request", {"type": "disable", "v": 1, "req_id": 41, "backend": "box2-gpu0"}),
    ("enable request", "request", {"type": "enable", "v": 1, "req_id": 42, "backend": "box1-gpu1"}),
    ("backend reply, every figure", "reply", {"type": "backend", "v": 1, "req_id": 41, **DISABLED}),
    ("backend event, draining", "event:backend.box1-gpu1", {"ts": TS + 2000, **DRAINING}),
    ("job reply, queued with a wait reason", "reply", {"type": "job", "v": 1, "req_id": 43, **WAITING}),
    (
        "worker reply, a pool",
        "reply",
        {
            "type": "worker",
            "v": 1,
            "req_id": 44,
            "version": "0.1.0",
            "protocol": 1,
            "started_at": TS,
            "paused": False,
            "jobs": {"queued": 1, "sampling": 1, "done": 58},
            "backends": [DRAINING, DISABLED],
            "workflows": ["txt2img"],
        },
    ),
]
