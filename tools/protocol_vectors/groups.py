"""The vectors of `compare` groups: the request, the `group` reply, the filter of list_jobs, the group's events."""

from __future__ import annotations

from .shared import SNAPSHOT, TS, Vector

SHEET = "/srv/pixflow/output/cmp/contact_sheet.png"
GROUP_JOBS = [
    {
        **SNAPSHOT,
        "job_id": f"cmp-{n}",
        "group_id": "cmp",
        "params": {**SNAPSHOT["params"], "model": model, "seed": seed},
    }
    for n, (model, seed) in enumerate([("a.safetensors", 1), ("a.safetensors", 2), ("b.safetensors", 1)], start=1)
]

GROUPS: list[Vector] = [
    (
        "compare request",
        "request",
        {
            "type": "compare",
            "v": 1,
            "req_id": 20,
            "group_id": "cmp",
            "prompt": "pixel art knight",
            "models": ["a.safetensors", "b.safetensors"],
            "seeds": [1, 2],
            "size": [64, 64],
            "steps": 8,
        },
    ),
    (
        "group reply, new",
        "reply",
        {
            "type": "group",
            "v": 1,
            "req_id": 20,
            "group_id": "cmp",
            "job_ids": ["cmp-1", "cmp-2", "cmp-3"],
            "existing": False,
            "jobs": [{**job, "state": "queued", "outputs": []} for job in GROUP_JOBS],
            "finished": False,
            "contact_sheet": None,
        },
    ),
    ("group request", "request", {"type": "group", "v": 1, "req_id": 21, "group_id": "cmp"}),
    (
        "group reply, finished",
        "reply",
        {
            "type": "group",
            "v": 1,
            "req_id": 21,
            "group_id": "cmp",
            "job_ids": ["cmp-1", "cmp-2", "cmp-3"],
            "existing": True,
            "jobs": GROUP_JOBS,
            "finished": True,
            "contact_sheet": SHEET,
        },
    ),
    ("list_jobs request, by group", "request", {"type": "list_jobs", "v": 1, "req_id": 22, "group_id": "cmp"}),
    (
        "job.state event, created in a group",
        "event:job.state.cmp-1",
        {
            "ts": TS,
            "job_id": "cmp-1",
            "seq": 1,
            "from": None,
            "to": "queued",
            "params": GROUP_JOBS[0]["params"],
            "workflow": "txt2img",
            "group_id": "cmp",
        },
    ),
    (
        "group.done event",
        "event:group.done.cmp",
        {
            "ts": TS + 5000,
            "group_id": "cmp",
            "job_ids": ["cmp-1", "cmp-2", "cmp-3"],
            "cancelled": 0,
            "done": 2,
            "failed": 1,
            "contact_sheet": SHEET,
            "error": None,
        },
    ),
]
