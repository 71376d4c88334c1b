"""A ComfyUI stand-in that replays recorded runs over real HTTP and WebSocket (aiohttp).

Each POST /prompt plays one recording (the next from the playlist, else the default) with the
submitted prompt's own id, one prompt at a time like ComfyUI's queue, at a chosen speed
(0: no delays, 1: recorded timing). It answers the routes a job runner uses, under `/` and `/api/`:
/prompt, /ws, /history[/{id}], /view, /queue, /interrupt, /object_info[/{class}], /models[/{folder}],
/system_stats. Routes under /replay/ control it (playlist, speed, counts, faults) for tests and demos.

The pieces: state.py (what it knows), player.py (playing a recording), frames.py (preview frames per
client), comfy_routes.py and fault_routes.py (HTTP), runner.py (the thread and loop it runs on), models.py (the
GPU it plays: checkpoints, LoRAs, speed factor, model-switch cost) and pool.py (several servers at once). The
event stream is the recorded one; the images are drawn for each prompt's graph: image_plan.py (what the graph
would make), pictures.py (drawing them), run_images.py (the files a run writes, its previews).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from pixflow.replay.comfy_routes import add_comfy_routes
from pixflow.replay.fault_routes import add_replay_routes
from pixflow.replay.models import BackendProfile
from pixflow.replay.player import execute
from pixflow.replay.recordings import load_recordings
from pixflow.replay.runner import AppThread
from pixflow.replay.state import STATE, ReplayState
from pixflow.replay.uploads import add_upload_routes

EXECUTOR = web.AppKey("executor", asyncio.Task[None])


def build_app(state: ReplayState) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE] = state
    add_comfy_routes(app)
    add_upload_routes(app, state.uploads)
    add_replay_routes(app)

    async def start_executor(app: web.Application) -> None:
        app[EXECUTOR] = asyncio.create_task(execute(state))

    async def stop_executor(app: web.Application) -> None:
        app[EXECUTOR].cancel()
        for listener in state.listeners():
            await listener.ws.close()

    app.on_startup.append(start_executor)
    app.on_shutdown.append(stop_executor)
    return app


class ReplayServer:
    """Runs the replay app on its own thread and event loop; start() returns once it listens."""

    def __init__(
        self,
        fixtures: Path,
        default: str = "fresh",
        speed: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        profile: BackendProfile | None = None,
    ) -> None:
        """`profile`: the GPU it plays (checkpoints, speed factor, model-switch cost, added run time; models.py)."""
        self.fixtures = fixtures
        self.recordings = load_recordings(fixtures)
        self._default, self._speed = default, speed
        self.profile = profile or BackendProfile()
        self.host, self.port = host, port
        self.state: ReplayState | None = None
        self._thread = AppThread(self._make_app, host, port, name="replay-server")

    def _make_app(self) -> web.Application:
        self.state = ReplayState(self.recordings, self.fixtures, self._default, self._speed, self.profile)
        return build_app(self.state)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ReplayServer:
        self._thread.start(timeout)
        self.port = self._thread.port
        return self

    def call(self, function: Callable[..., Any], *args: Any, timeout: float = 5.0) -> Any:
        """Run function(state, *args) on the server's loop and return its result (for tests)."""
        return self._thread.call(lambda: function(self.state, *args), timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self._thread.stop(timeout)

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
