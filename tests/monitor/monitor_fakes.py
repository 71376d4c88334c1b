"""Test helpers for pixflow-monitor: a scripted link (canned worker answers and events, for deterministic
snapshots), a pixel-art sprite, canned job snapshots shaped like the worker's, and async waiting helpers."""

from __future__ import annotations

import asyncio
import io
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from textual.pilot import Pilot

from pixflow.protocol import DEFAULT_PUB_ADDR, DEFAULT_REQ_ADDR
from pixflow.vocabulary import TERMINAL_STATES, TOPIC_STATS, JobState
from pixflow_monitor.link import Post
from pixflow_monitor.messages import Event, EventsReceived, LinkDown, LinkUp, ReplyReceived, RequestFailed
from pixflow_monitor.request import Request

T0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC: every canned timestamp counts from here
STARTED_AT = T0 - 3_600_000  # the canned worker has been up an hour at T0

SLIME = (
    "................",
    "................",
    "......####......",
    "....##gggg##....",
    "...#gggggwwg#...",
    "..#gggggggwwg#..",
    "..#ggggggggggg#.",
    ".#ggkkggggkkggg#",
    ".#ggkwggggkwggg#",
    ".#gggggggggggggd",
    ".#ggggg##gggggd#",
    ".#gggggggggggdd#",
    "..#dgggggggddd#.",
    "...##dddddddd##.",
    ".....########...",
    "................",
)
PALETTE = {
    ".": (24, 20, 37),
    "#": (38, 43, 68),
    "g": (99, 199, 77),
    "d": (62, 137, 72),
    "w": (255, 255, 255),
    "k": (24, 20, 37),
}


def sprite_png(rows: tuple[str, ...] = SLIME) -> bytes:
    """A 16x16 pixel-art slime as PNG bytes (what a preview or a saved output of a sprite looks like)."""
    image = Image.new("RGB", (len(rows[0]), len(rows)))
    for y, row in enumerate(rows):
        for x, char in enumerate(row):
            image.putpixel((x, y), PALETTE[char])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# Canned protocol data, shaped like the worker's (docs/protocol.md).
def params(prompt: str, seed: int, previews: bool = False, steps: int = 8) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "model": None,
        "steps": steps,
        "cfg_scale": 7.0,
        "negative_prompt": "",
        "seed": seed,
        "sampler": "euler",
        "scheduler": "normal",
        "batch_size": 1,
        "workflow": None,
        "priority": 0,
        "previews": previews,
        "size": [64, 64],
    }


def snapshot(
    job_id: str,
    prompt: str,
    created: int,
    stages: list[tuple[str, int]],
    seed: int = 1000,
    previews: bool = False,
    progress: tuple[int, int] | None = (8, 8),
    error: dict[str, Any] | None = None,
    output: str | None = None,
    wait_reason: str | None = None,
) -> dict[str, Any]:
    """A job snapshot: `stages` are (state, ms after `created`) in the order the job entered them."""
    state_times = {"queued": created} | {state: created + at for state, at in stages}
    state = stages[-1][0] if stages else JobState.QUEUED.value
    final = state in TERMINAL_STATES
    outputs = []
    if output is not None:
        outputs = [
            {
                "index": 0,
                "path": output,
                "node": "9",
                "comfy_filename": "pixflow_00001_.png",
                "width": 16,
                "height": 16,
                "bytes": len(sprite_png()),
            }
        ]
    return {
        "type": "job",
        "v": 1,
        "job_id": job_id,
        "state": state,
        "stage": None if final or state == "queued" else state,
        "passes": 0,
        "progress": {"node": "3", "value": progress[0], "max": progress[1]} if progress else None,
        "outputs": outputs,
        "error": error,
        "params": params(prompt, seed, previews),
        "workflow": "txt2img",
        "priority": 0,
        "backend": "local" if any(stage in dict(RUN) for stage, _ in stages) else None,
        "attempts": 1 if stages else 0,
        "prompt_id": f"prompt-{job_id}",
        "seq": 1 + len(stages) + (progress[0] if progress and stages else 0),
        "cancel_requested": False,
        "wait_reason": wait_reason,
        "created_at": created,
        "started_at": created + stages[0][1] if stages else None,
        "finished_at": created + stages[-1][1] if final else None,
        "state_times": state_times,
    }


RUN = [("loading", 400), ("encoding", 1900), ("sampling", 2300), ("decoding", 9100), ("saving", 9600)]
EXECUTION_ERROR = {
    "code": "execution_error",
    "message": "SaveImage (node 9) raised Exception: **** ERROR: Saving image outside the output folder is not "
    "allowed.\n full_output_folder: /srv\n         output_dir: /srv/ComfyUI/output",
    "node_id": "9",
    "node_type": "SaveImage",
    "exception_type": "Exception",
    "exception_message": "**** ERROR: Saving image outside the output folder is not allowed.",
    "traceback": [
        '  File "/srv/ComfyUI/execution.py", line 510, in execute\n    output_data = await get_output_data(...)\n',
        '  File "/srv/ComfyUI/nodes.py", line 1600, in save_images\n    folder_paths.get_save_image_path(...)\n',
        '  File "/srv/ComfyUI/folder_paths.py", line 464, in get_save_image_path\n    raise Exception(err)\n',
    ],
}
OUTPUT_DIR = "/srv/pixflow/output"


def backend_figures(name: str = "local", up: bool = True, **figures: Any) -> dict[str, Any]:
    """A backend as `BackendState.describe` has it (docs/pool.md): an up, active GPU that has run a few jobs."""
    return {
        "name": name,
        "url": "http://127.0.0.1:8188",
        "up": up,
        "state": "up" if up else "down",
        "mode": "active",
        "reason": None if up else "connection refused",
        "version": "0.3.75",
        "labels": {},
        "models": 1,
        "loras": 0,
        "node_types": 516,
        "inflight": 0,
        "max_inflight": 2,
        "queue_remaining": 0,
        "loaded_model": "tiny-sd15.safetensors",
        "jobs_done": 3,
        "seconds_per_job": 9.8,
        "model_switches": 0,
        **figures,
    }


def worker_reply(
    jobs: list[dict[str, Any]], up: bool = True, backends: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    counts = {state.value: 0 for state in JobState}
    for job in jobs:
        counts[job["state"]] += 1
    backend = backend_figures(up=up, inflight=sum(1 for job in jobs if job["stage"]))
    return {
        "type": "worker",
        "v": 1,
        "version": "0.1.0",
        "protocol": 1,
        "started_at": STARTED_AT,
        "paused": False,
        "jobs": counts,
        "backends": backends if backends is not None else [backend],
        "workflows": ["txt2img", "txt2img_2pass"],
    }


def stats_event(jobs: list[dict[str, Any]], ts: int) -> Event:
    counts = worker_reply(jobs)["jobs"]
    running = sum(counts[s] for s in ("loading", "encoding", "sampling", "decoding", "saving"))
    fields = {key: counts[key] for key in ("queued", "done", "failed", "cancelled")}
    return TOPIC_STATS, {"ts": ts, **fields, "running": running, "paused": False, "backends_up": 1}


@dataclass
class Scene:
    """What the scripted worker knows and says."""

    jobs: list[dict[str, Any]]
    events: list[Event] = field(default_factory=list)  # published once the monitor is in sync
    go_down: str | None = None  # then the worker stops answering, with this reason
    answers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = field(default_factory=dict)
    backends: list[dict[str, Any]] | None = None  # the `worker` reply's; None: one up backend, `local`


class ScriptedLink:
    """A Link with canned answers: everything arrives in one fixed order (connect, resync, events, [down])."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.req_addr, self.pub_addr, self.timeout = DEFAULT_REQ_ADDR, DEFAULT_PUB_ADDR, 3.0
        self.sent: list[Request] = []
        self._queue: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self.synced = threading.Event()
        self.events_posted = threading.Event()
        self.down = threading.Event()

    def request(self, request: Request) -> None:
        self.sent.append(request)
        self._queue.put(request)

    def run_requests(self, post: Post, stop: threading.Event) -> None:
        post(LinkUp())
        while not stop.is_set():
            if self.scene.go_down and self.events_posted.is_set() and not self.down.is_set():
                self.down.set()
                post(LinkDown(self.scene.go_down))
            try:
                request = self._queue.get(timeout=0.01)
            except queue.Empty:
                continue
            if self.down.is_set():
                post(RequestFailed(request, "timeout", self.scene.go_down or ""))
                continue
            post(ReplyReceived(request, self.answer(request)))
            if request.purpose == "resync.finished":
                self.synced.set()

    def run_events(self, post: Post, stop: threading.Event) -> None:
        while not self.synced.wait(0.01):
            if stop.is_set():
                return
        if self.scene.events:
            post(EventsReceived(list(self.scene.events)))
        self.events_posted.set()
        stop.wait()

    def answer(self, request: Request) -> dict[str, Any]:
        fields = request.fields
        jobs = {job["job_id"]: job for job in self.scene.jobs}
        if request.kind in self.scene.answers:
            return self.scene.answers[request.kind](fields)
        if request.kind == "status" and "job_id" in fields:
            job = jobs.get(fields["job_id"])
            return job if job else {"type": "error", "v": 1, "code": "not_found", "message": "no such job"}
        if request.kind == "status":
            return worker_reply(self.scene.jobs, backends=self.scene.backends)
        if request.kind == "list_jobs":
            states = fields.get("state") or []
            matching = sorted(
                (job for job in self.scene.jobs if not states or job["state"] in states),
                key=lambda job: -job["created_at"],
            )
            offset, limit = fields.get("offset", 0), fields.get("limit", 100)
            page = matching[offset : offset + limit]
            return {"type": "jobs", "v": 1, "jobs": page, "total": len(matching), "offset": offset}
        return {"type": "error", "v": 1, "code": "unknown_type", "message": f"unknown request type {request.kind!r}"}


def fake_files(files: dict[str, bytes]) -> Callable[[str], bytes]:
    """An output reader that knows only these paths (the others are missing, like on another host)."""

    def read(path: str) -> bytes:
        if path not in files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return files[path]

    return read


# Waiting, without sleeping as synchronisation.
async def until(pilot: Pilot, condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Let the app run until `condition()` is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await pilot.pause(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")


def run_pilot(app: Any, scenario: Callable[[Pilot], Awaitable[None]], size: tuple[int, int] = (160, 50)) -> None:
    """Run `scenario` against `app` headless (pytest here has no asyncio plugin: one event loop per test)."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await scenario(pilot)

    asyncio.run(main())
