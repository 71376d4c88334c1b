"""What the replay server knows: the recordings, the queue, the sockets, the history and the fault switches."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from pixflow.replay.models import (
    BackendProfile,
    checkpoint_of,
    offered_checkpoints,
    offered_loras,
    with_checkpoints,
    with_loras,
)
from pixflow.replay.recordings import Recording
from pixflow.replay.run_images import RunImages, SavedImages

COMFYUI_VERSION = "0.3.75"


@dataclass
class RunRecord:
    """When one prompt was posted, started, had its model in place and ended (time.monotonic() seconds, so a
    benchmark in another process on the same machine can line them up with its own clock)."""

    prompt_id: str
    checkpoint: str | None
    posted: float
    started: float | None = None  # execution_start sent
    loaded: float | None = None  # its checkpoint in place (after the switch cost, if any): the first node may run
    ended: float | None = None  # its last frame sent
    switched: bool = False  # it loaded its checkpoint


@dataclass
class Run:
    """One submitted prompt, queued or running."""

    prompt_id: str
    client_id: str | None
    number: int
    recording: Recording
    graph: dict[str, Any]
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)
    deleted: bool = False  # taken off the queue by POST /queue {"delete"}: skipped, never played
    posted_at: float = field(default_factory=time.monotonic)
    forgotten: bool = False  # lost in a simulated restart: it ends without a word
    record: RunRecord | None = None
    images: RunImages = field(init=False)  # what its outputs and previews look like (run_images.py)

    def __post_init__(self) -> None:
        self.images = RunImages(self.graph)

    def queue_item(self) -> list[Any]:
        """The prompt as GET /queue and its history entry show it: [number, id, graph, extra_data, outputs]."""
        return [self.number, self.prompt_id, self.graph, {"client_id": self.client_id}, []]


@dataclass
class Listener:
    """One open WebSocket and what its client asked for."""

    ws: web.WebSocketResponse
    client_id: str
    wants_metadata: bool = False  # it sent the feature_flags opt-in: previews go as type 4
    # A stalled socket gets nothing and reads nothing, so it answers no ping: a silent, half-dead link.
    stalled: bool = False


class ReplayState:
    """Everything the replay server knows; touched only from its event loop."""

    def __init__(
        self,
        recordings: dict[str, Recording],
        fixtures: Path,
        default: str,
        speed: float,
        profile: BackendProfile | None = None,
    ) -> None:
        if default not in recordings:
            raise ValueError(f"no recording {default!r} in {fixtures}; have: {', '.join(sorted(recordings))}")
        self.recordings = recordings
        self.fixtures = fixtures
        self.default = default
        self.speed = speed
        self.playlist: deque[str] = deque()
        self.clients: dict[str, list[Listener]] = {}
        self.pending: deque[Run] = deque()
        self.running: Run | None = None
        self.history: dict[str, Any] = {}
        self.prompts_received: Counter[str] = Counter()
        self.uploads: dict[str, list[bytes]] = {}  # POST /upload/image: name -> the bytes of each upload
        self.saved = SavedImages(fixtures / "output")  # the images runs wrote, served by /view (run_images.py)
        self.number = 0
        self.wakeup = asyncio.Event()
        # Fault injection for tests (routes under /replay/): hold prompts before they start, slow /view.
        self.released = asyncio.Event()
        self.released.set()
        self.view_delay = 0.0
        self.ignore_targeted_interrupt = False  # as an older ComfyUI would: only a bare /interrupt works
        # When a list: (time.monotonic_ns(), prompt_id, what, value) for each prompt's start, progress and end,
        # so a benchmark can time what the worker does with them.
        self.send_log: list[tuple[int, str, str, Any]] | None = None
        # The GPU this server plays (models.py): its checkpoints, speed factor, switch cost; what it has loaded.
        self.profile = profile or BackendProfile()
        recorded = with_loras(_load_json(fixtures / "object_info.json", {}), self.profile.loras)
        self.object_info: dict[str, Any] = with_checkpoints(recorded, self.profile.checkpoints)
        self.loaded: str | None = self.profile.loaded
        self.model_loads = 0  # checkpoints loaded, the first one included
        self.model_switches = 0  # loads that replaced another checkpoint
        self.timeline: list[RunRecord] = []  # every accepted prompt, in submission order
        self.system_stats: dict[str, Any] = _load_json(fixtures / "system_stats.json", default_system_stats())

    def next_recording(self) -> Recording:
        name = self.playlist.popleft() if self.playlist else self.default
        return self.recordings[name]

    def new_run(self, prompt_id: str, client_id: str | None, recording: Recording, graph: dict[str, Any]) -> Run:
        """An accepted prompt, numbered and on the timeline."""
        record = RunRecord(prompt_id, checkpoint_of(graph), time.monotonic())
        run = Run(prompt_id, client_id, self.number, recording, graph, posted_at=record.posted, record=record)
        self.number += 1
        self.timeline.append(record)
        return run

    def checkpoints(self) -> list[str]:
        return offered_checkpoints(self.object_info)

    def loras(self) -> list[str]:
        return offered_loras(self.object_info)

    def queue_remaining(self) -> int:
        """As ComfyUI counts it: the pending prompts and the running one."""
        return len([r for r in self.pending if not r.deleted]) + (1 if self.running else 0)

    def listeners(self, client_id: str | None = None) -> list[Listener]:
        """The sockets of one clientId, or every socket when None."""
        if client_id is not None:
            return list(self.clients.get(client_id, []))
        return [listener for listeners in self.clients.values() for listener in listeners]


STATE = web.AppKey("state", ReplayState)


def _load_json(path: Path, default: Any) -> Any:
    return json.loads(path.read_text()) if path.exists() else default


def default_system_stats() -> dict[str, Any]:
    """GET /system_stats for fixtures recorded without one: a CPU-only ComfyUI of the recorded version."""
    return {
        "system": {
            "os": "posix",
            "comfyui_version": COMFYUI_VERSION,
            "python_version": "3.11",
            "embedded_python": False,
            "argv": ["main.py", "--cpu"],
        },
        "devices": [
            {
                "name": "cpu",
                "type": "cpu",
                "index": None,
                "vram_total": 0,
                "vram_free": 0,
                "torch_vram_total": 0,
                "torch_vram_free": 0,
            }
        ],
    }
