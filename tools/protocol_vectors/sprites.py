"""The vectors of sprite sheets and sprite steps: `sheet`, `retry`, `fetch_output` variants, the sheet's end."""

from __future__ import annotations

from .shared import SNAPSHOT, TS, Vector

FOLDER = "/srv/pixflow/output/knight"
SPRITE_SHEET = {
    "sheet": f"{FOLDER}/sheet.png",
    "atlas": f"{FOLDER}/sheet.json",
    "previews": {"idle": f"{FOLDER}/idle.gif", "walk": f"{FOLDER}/walk.gif"},
    "aseprite": None,
    "cell": [48, 48],
    "palette": ["#000000", "#1d2b53", "#7e2553", "#008751"],
    "missing": [{"row": "walk", "frame": 1, "job_id": "knight-4", "state": "failed"}],
}
SHEET_PARAMS = {
    **SNAPSHOT["params"],
    "prompt": "pixel art knight, walking",
    "workflow": "sprite",
    "sheet": {
        "row": "walk",
        "row_index": 1,
        "frame": 1,
        "rows": ["idle", "walk"],
        "frames": 2,
        "cell": [48, 48],
        "palette": "pico-8",
        "duration_ms": 120,
    },
}

SPRITES: list[Vector] = [
    (
        "sheet request",
        "request",
        {
            "type": "sheet",
            "v": 1,
            "req_id": 60,
            "group_id": "knight",
            "prompt": "pixel art knight",
            "rows": [{"name": "idle", "prompt": "standing"}, {"name": "walk", "prompt": "walking"}],
            "frames": 2,
            "cell": [48, 48],
            "palette": "pico-8",
            "duration_ms": 120,
            "seed": 7,
        },
    ),
    (
        "group reply, an ended sheet",
        "reply",
        {
            "type": "group",
            "v": 1,
            "req_id": 61,
            "group_id": "knight",
            "job_ids": ["knight-1", "knight-2", "knight-3", "knight-4"],
            "existing": True,
            "jobs": [{**SNAPSHOT, "job_id": "knight-4", "group_id": "knight", "params": SHEET_PARAMS}],
            "finished": True,
            "contact_sheet": f"{FOLDER}/contact_sheet.png",
            "sprite_sheet": SPRITE_SHEET,
        },
    ),
    (
        "retry request, a re-roll",
        "request",
        {"type": "retry", "v": 1, "req_id": 62, "job_id": "knight-4", "new_seed": True},
    ),
    (
        "accepted reply, a retry",
        "reply",
        {
            "type": "accepted",
            "v": 1,
            "req_id": 62,
            "job_id": "knight-5",
            "existing": False,
            "state": "queued",
            "retry_of": "knight-4",
        },
    ),
    (
        "fetch_output request, the raw generation",
        "request",
        {"type": "fetch_output", "v": 1, "req_id": 63, "job_id": "knight-1", "index": 0, "variant": "raw"},
    ),
    (
        "fetch_output request, a sheet's preview",
        "request",
        {"type": "fetch_output", "v": 1, "req_id": 64, "group_id": "knight", "variant": "preview", "row": "walk"},
    ),
    (
        "image reply, a sheet's atlas",
        "reply",
        {
            "type": "image",
            "v": 1,
            "req_id": 65,
            "group_id": "knight",
            "variant": "atlas",
            "name": "sheet.json",
            "format": "json",
            "bytes": 2,
            "sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "image": {"$bin": b"{}".hex()},
        },
    ),
    (
        "group.done event, a sheet",
        "event:group.done.knight",
        {
            "ts": TS + 9000,
            "group_id": "knight",
            "job_ids": ["knight-1", "knight-2", "knight-3", "knight-4"],
            "cancelled": 0,
            "done": 3,
            "failed": 1,
            "contact_sheet": f"{FOLDER}/contact_sheet.png",
            "error": None,
            "sprite_sheet": SPRITE_SHEET,
        },
    ),
]
