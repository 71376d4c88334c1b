"""A ComfyUI stand-in that replays recorded runs over real HTTP and WebSocket (aiohttp).

Each POST /prompt plays one recording (the next from the playlist, else the default) with the
submitted prompt's own id, one prompt at a time like ComfyUI's queue, at a chosen speed
(0: no delays, 1: recorded timing). It answers the routes a job runner uses, under `/` and `/api/`:
/prompt, /ws, /history[/{id}], /view, /queue, /interrupt, /object_info[/{class}], /models[/{folder}],
/system_stats. Routes under /replay/ control it (playlist, speed, counts) for tests and demos.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from pixflow.comfy.events import PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA
from pixflow.replay.recordings import Frame, Recording, load_recordings

log = logging.getLogger(__name__)

COMFYUI_VERSION = "0.3.75"
INTERRUPT_WAIT = 60.0  # how long a recorded interrupt point waits for the client's own interrupt


@dataclass
class _Run:
    prompt_id: str
    client_id: str | None
    number: int
    recording: Recording
    graph: dict[str, Any]
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)
    deleted: bool = False
    posted_at: float = field(default_factory=time.monotonic)
    forgotten: bool = False  # lost in a simulated restart: it ends without a word

    def queue_item(self) -> list[Any]:
        return [self.number, self.prompt_id, self.graph, {"client_id": self.client_id}, []]


@dataclass
class _Client:
    ws: web.WebSocketResponse
    client_id: str
    wants_metadata: bool = False
    # A stalled socket gets nothing and reads nothing, so it answers no ping: a silent, half-dead link.
    stalled: bool = False


class ReplayState:
    """Everything the replay server knows; touched only from its event loop."""

    def __init__(self, recordings: dict[str, Recording], fixtures: Path, default: str, speed: float) -> None:
        if default not in recordings:
            raise ValueError(f"no recording {default!r} in {fixtures}; have: {', '.join(sorted(recordings))}")
        self.recordings = recordings
        self.fixtures = fixtures
        self.default = default
        self.speed = speed
        self.playlist: deque[str] = deque()
        self.clients: dict[str, list[_Client]] = {}
        self.pending: deque[_Run] = deque()
        self.running: _Run | None = None
        self.history: dict[str, Any] = {}
        self.prompts_received: Counter[str] = Counter()
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
        self.object_info = _load_json(fixtures / "object_info.json", {})
        self.system_stats = _load_json(fixtures / "system_stats.json", _default_system_stats())

    def next_recording(self) -> Recording:
        name = self.playlist.popleft() if self.playlist else self.default
        return self.recordings[name]

    def queue_remaining(self) -> int:
        return len([r for r in self.pending if not r.deleted]) + (1 if self.running else 0)


def _load_json(path: Path, default: Any) -> Any:
    return json.loads(path.read_text()) if path.exists() else default


def _default_system_stats() -> dict[str, Any]:
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


STATE = web.AppKey("state", ReplayState)
EXECUTOR = web.AppKey("executor", asyncio.Task)


# Sending to clients.
async def _send_text(state: ReplayState, text: str, client_id: str | None) -> None:
    targets = state.clients.get(client_id, []) if client_id else [c for cs in state.clients.values() for c in cs]
    for client in list(targets):
        await _send(client, text)


async def _send(client: _Client, message: str | bytes) -> None:
    """Like ComfyUI, a socket that went away mid-send costs that client its message, never the prompt."""
    if client.ws.closed or client.stalled:
        return
    try:
        if isinstance(message, str):
            await client.ws.send_str(message)
        else:
            await client.ws.send_bytes(message)
    except (ConnectionError, RuntimeError) as e:  # aiohttp's ClientConnectionResetError is a ConnectionError
        log.debug("replay: client %s went away: %s", client.client_id, e)


async def _broadcast_status(state: ReplayState) -> None:
    message = {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": state.queue_remaining()}}}}
    await _send_text(state, json.dumps(message), None)


def _preview_for(client: _Client, frame: bytes, run: _Run, node: str | None) -> bytes:
    """ComfyUI sends type 4 (with metadata) to clients that opted in, type 1 to the others."""
    (kind,) = struct.unpack_from(">I", frame, 0)
    if kind == PREVIEW_IMAGE_WITH_METADATA:
        (length,) = struct.unpack_from(">I", frame, 4)
        meta = json.loads(frame[8 : 8 + length])
        image = frame[8 + length :]
        if not client.wants_metadata:
            fmt = 2 if "png" in str(meta.get("image_type")) else 1
            return struct.pack(">II", PREVIEW_IMAGE, fmt) + image
        meta = {**meta, "prompt_id": run.prompt_id}
    elif kind == PREVIEW_IMAGE:
        (fmt,) = struct.unpack_from(">I", frame, 4)
        image = frame[8:]
        if not client.wants_metadata:
            return frame
        meta = {
            "node_id": node,
            "prompt_id": run.prompt_id,
            "display_node_id": node,
            "parent_node_id": None,
            "real_node_id": node,
            "image_type": "image/png" if fmt == 2 else "image/jpeg",
        }
    else:
        return frame
    encoded = json.dumps(meta).encode()
    return struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(encoded)) + encoded + image


def _preview_kind(frame: Frame) -> int | None:
    return struct.unpack_from(">I", frame.binary, 0)[0] if frame.binary is not None and len(frame.binary) >= 4 else None


def _is_progress(frame: Frame) -> bool:
    return frame.text is not None and frame.text.startswith('{"type": "progress",')


def _in_client_order(frames: tuple[Frame, ...], wants_metadata: bool) -> list[Frame]:
    """ComfyUI 0.3.75 sends a preview with metadata (type 4) just before its step's `progress`, and a plain one
    (type 1) just after it. A recording made with one kind is reordered for a client of the other kind."""
    ordered = list(frames)
    for i in range(1, len(ordered)):
        kind = _preview_kind(ordered[i])
        if wants_metadata and kind == PREVIEW_IMAGE and _is_progress(ordered[i - 1]) and not ordered[i].after_interrupt:
            ordered[i - 1], ordered[i] = ordered[i], ordered[i - 1]
    for i in range(len(ordered) - 2, -1, -1):
        kind = _preview_kind(ordered[i])
        movable = not (ordered[i].after_interrupt or ordered[i + 1].after_interrupt)
        if not wants_metadata and kind == PREVIEW_IMAGE_WITH_METADATA and _is_progress(ordered[i + 1]) and movable:
            ordered[i], ordered[i + 1] = ordered[i + 1], ordered[i]
    return ordered


# Playing one prompt.
async def _play(state: ReplayState, run: _Run) -> None:
    recording = run.recording
    old_id = recording.prompt_id or ""
    node: str | None = None
    # Until execution starts, the recorded delays count from the POST: a prompt that waited in the queue
    # starts as soon as the one before it ends, as in ComfyUI.
    started, since_post = False, 0.0
    wants_metadata = any(client.wants_metadata for client in state.clients.get(run.client_id or "", []))
    for frame in _in_client_order(recording.frames, wants_metadata):
        if frame.after_interrupt:
            try:
                await asyncio.wait_for(run.interrupted.wait(), INTERRUPT_WAIT)
            except TimeoutError:
                log.warning("replay: nobody interrupted prompt %s; playing the recorded tail", run.prompt_id)
        elif run.interrupted.is_set():
            if not run.forgotten:
                await _play_interrupted_tail(state, run, node)
            return
        if state.speed > 0 and frame.delay > 0:
            if started:
                await asyncio.sleep(frame.delay / state.speed)
            else:
                since_post += frame.delay
                wait = run.posted_at + since_post / state.speed - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
        if frame.text is not None:
            text = frame.text.replace(old_id, run.prompt_id) if old_id else frame.text
            message = json.loads(text)
            kind, data = message.get("type"), message.get("data") or {}
            if kind == "status":
                await _broadcast_status(state)
                continue
            if kind == "executing":
                node = data.get("node")
                if node is None:
                    _write_history(state, run)
            await _send_text(state, text, run.client_id)
            if kind == "execution_start":
                started = True
            logged = kind in ("execution_start", "progress") or (kind == "executing" and node is None)
            if state.send_log is not None and logged:
                state.send_log.append((time.monotonic_ns(), run.prompt_id, kind, data.get("value")))
        elif frame.binary is not None:
            for client in list(state.clients.get(run.client_id or "", [])):
                await _send(client, _preview_for(client, frame.binary, run, node))


async def _play_interrupted_tail(state: ReplayState, run: _Run, node: str | None) -> None:
    """What ComfyUI sends when a running prompt is interrupted (see interrupt.jsonl)."""
    node_type = (run.graph.get(node) or {}).get("class_type") if node else None
    timestamp = int(time.time() * 1000)
    interrupted = {
        "prompt_id": run.prompt_id,
        "node_id": node,
        "node_type": node_type,
        "executed": [],
        "timestamp": timestamp,
    }
    await _send_text(state, json.dumps({"type": "execution_interrupted", "data": interrupted}), run.client_id)
    state.running = None
    await _broadcast_status(state)
    state.history[run.prompt_id] = {
        "prompt": [run.number, run.prompt_id, run.graph, {"client_id": run.client_id}, []],
        "outputs": {},
        "status": {"status_str": "error", "completed": False, "messages": [["execution_interrupted", interrupted]]},
        "meta": {},
    }
    end = {"type": "executing", "data": {"node": None, "prompt_id": run.prompt_id}}
    await _send_text(state, json.dumps(end), run.client_id)


def _write_history(state: ReplayState, run: _Run) -> None:
    recorded = run.recording.history
    if recorded is None:
        return
    old_id = run.recording.prompt_id or ""
    entry = json.loads(json.dumps(recorded).replace(old_id, run.prompt_id)) if old_id else dict(recorded)
    entry["prompt"] = [run.number, run.prompt_id, run.graph, {"client_id": run.client_id}, []]
    state.history[run.prompt_id] = entry


async def _executor(state: ReplayState) -> None:
    """Runs prompts one at a time, in submission order, like ComfyUI's single execution thread."""
    while True:
        await state.released.wait()
        if not state.pending:
            state.wakeup.clear()
            await state.wakeup.wait()
            continue
        run = state.pending.popleft()
        if run.deleted:
            continue
        state.running = run
        try:
            await _play(state, run)
        except Exception:
            log.exception("replay of %s failed", run.prompt_id)
        finally:
            if state.running is run:
                state.running = None


# HTTP routes.
async def _post_prompt(request: web.Request) -> web.Response:
    state: ReplayState = request.app[STATE]
    try:
        body = await request.json()
    except ValueError:
        return web.Response(status=500, text="invalid JSON body")
    prompt_id = str(body.get("prompt_id") or uuid.uuid4())
    state.prompts_received[prompt_id] += 1
    recording = state.next_recording()
    if recording.status != 200:
        return web.json_response(recording.reply, status=recording.status)
    run = _Run(prompt_id, body.get("client_id"), state.number, recording, body.get("prompt") or {})
    state.number += 1
    state.pending.append(run)  # queued before the reply is written, as ComfyUI does
    state.wakeup.set()
    await _broadcast_status(state)
    return web.json_response({"prompt_id": prompt_id, "number": run.number, "node_errors": {}})


async def _websocket(request: web.Request) -> web.WebSocketResponse:
    state: ReplayState = request.app[STATE]
    ws = web.WebSocketResponse(max_msg_size=0)
    await ws.prepare(request)
    client_id = request.query.get("clientId") or uuid.uuid4().hex
    client = _Client(ws, client_id)
    state.clients.setdefault(client_id, []).append(client)
    greeting = {
        "type": "status",
        "data": {"status": {"exec_info": {"queue_remaining": state.queue_remaining()}}, "sid": client_id},
    }
    await ws.send_str(json.dumps(greeting))
    try:
        while not ws.closed:
            if client.stalled:
                await asyncio.sleep(0.05)  # not reading: pings go unanswered
                continue
            try:
                message = await ws.receive(timeout=0.1)
            except TimeoutError:
                continue
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                break
            if message.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(message.data)
            except ValueError:
                continue
            if data.get("type") == "feature_flags":
                client.wants_metadata = bool((data.get("data") or {}).get("supports_preview_metadata"))
                flags = {"supports_preview_metadata": True, "max_upload_size": 104857600}
                await ws.send_str(json.dumps({"type": "feature_flags", "data": flags}))
    finally:
        state.clients[client_id].remove(client)
        if not state.clients[client_id]:
            del state.clients[client_id]
    return ws


async def _get_history(request: web.Request) -> web.Response:
    state: ReplayState = request.app[STATE]
    prompt_id = request.match_info.get("prompt_id")
    if prompt_id is None:
        return web.json_response(state.history)
    entry = state.history.get(prompt_id)
    return web.json_response({prompt_id: entry} if entry else {})


async def _view(request: web.Request) -> web.StreamResponse:
    state: ReplayState = request.app[STATE]
    filename = request.query.get("filename", "")
    subfolder = request.query.get("subfolder", "")
    if not filename or ".." in filename or ".." in subfolder or filename.startswith("/") or subfolder.startswith("/"):
        return web.Response(status=400, text="invalid filename")
    path = state.fixtures / "output" / subfolder / filename
    if not path.is_file():
        return web.Response(status=404, text="file not found")
    if state.view_delay:
        await asyncio.sleep(state.view_delay)
    return web.FileResponse(path)


async def _get_queue(request: web.Request) -> web.Response:
    state: ReplayState = request.app[STATE]
    running = [state.running.queue_item()] if state.running else []
    pending = [run.queue_item() for run in state.pending if not run.deleted]
    return web.json_response({"queue_running": running, "queue_pending": pending})


async def _post_queue(request: web.Request) -> web.Response:
    state: ReplayState = request.app[STATE]
    body = await request.json()
    if body.get("clear"):
        for run in state.pending:
            run.deleted = True
    for prompt_id in body.get("delete") or []:
        for run in state.pending:
            if run.prompt_id == prompt_id:
                run.deleted = True
    return web.Response(status=200)


async def _interrupt(request: web.Request) -> web.Response:
    state: ReplayState = request.app[STATE]
    try:
        body = await request.json()
    except ValueError:
        body = {}
    target = (body or {}).get("prompt_id")
    if target is not None and state.ignore_targeted_interrupt:
        return web.Response(status=200)
    run = state.running
    if run is not None and (target is None or target == run.prompt_id):
        run.interrupted.set()
    return web.Response(status=200)


async def _object_info(request: web.Request) -> web.Response:
    state: ReplayState = request.app[STATE]
    class_type = request.match_info.get("class_type")
    if class_type is None:
        return web.json_response(state.object_info)
    info = state.object_info.get(class_type)
    return web.json_response({class_type: info} if info else {})


async def _models(request: web.Request) -> web.Response:
    state: ReplayState = request.app[STATE]
    folder = request.match_info.get("folder")
    if folder is None:
        return web.json_response(["checkpoints"])
    if folder != "checkpoints":
        return web.json_response([])
    spec = state.object_info.get("CheckpointLoaderSimple", {}).get("input", {}).get("required", {})
    return web.json_response(list((spec.get("ckpt_name") or [[]])[0]))


async def _system_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].system_stats)


async def _replay_playlist(request: web.Request) -> web.Response:
    state: ReplayState = request.app[STATE]
    body = await request.json()
    names = body.get("recordings") or []
    unknown = [name for name in names if name not in state.recordings]
    if unknown:
        return web.json_response({"error": f"unknown recordings: {unknown}"}, status=400)
    state.playlist.extend(names)
    return web.json_response({"playlist": list(state.playlist)})


async def _replay_stats(request: web.Request) -> web.Response:
    state: ReplayState = request.app[STATE]
    return web.json_response(
        {
            "prompts_received": dict(state.prompts_received),
            "clients": len(state.clients),
            "queue_remaining": state.queue_remaining(),
            "recordings": sorted(state.recordings),
        }
    )


async def _replay_speed(request: web.Request) -> web.Response:
    state: ReplayState = request.app[STATE]
    state.speed = float((await request.json())["speed"])
    return web.json_response({"speed": state.speed})


async def _replay_fault(request: web.Request) -> web.Response:
    """Fault injection: {"drop": true} closes every WebSocket; {"stall": true} silences the open ones;
    {"hold": true|false} holds prompts before they start; {"view_delay": s}; {"forget": true} loses
    queue and history, as a ComfyUI restart does."""
    state: ReplayState = request.app[STATE]
    body = await request.json()
    everyone = [client for clients in state.clients.values() for client in clients]
    if body.get("drop"):
        for client in everyone:
            await client.ws.close()
    if body.get("stall"):
        for client in everyone:
            client.stalled = True
    if "hold" in body:
        (state.released.clear if body["hold"] else state.released.set)()
    if "view_delay" in body:
        state.view_delay = float(body["view_delay"])
    if body.get("forget"):
        state.pending.clear()
        state.history.clear()
        if state.running is not None:
            state.running.interrupted.set()
            state.running.forgotten = True
    return web.json_response({"clients": len(everyone)})


def build_app(state: ReplayState) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE] = state
    routes = [
        ("POST", "/prompt", _post_prompt),
        ("GET", "/ws", _websocket),
        ("GET", "/history", _get_history),
        ("GET", "/history/{prompt_id}", _get_history),
        ("GET", "/view", _view),
        ("GET", "/queue", _get_queue),
        ("POST", "/queue", _post_queue),
        ("POST", "/interrupt", _interrupt),
        ("GET", "/object_info", _object_info),
        ("GET", "/object_info/{class_type}", _object_info),
        ("GET", "/models", _models),
        ("GET", "/models/{folder}", _models),
        ("GET", "/system_stats", _system_stats),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, f"/api{path}", handler)
    app.router.add_post("/replay/playlist", _replay_playlist)
    app.router.add_get("/replay/stats", _replay_stats)
    app.router.add_post("/replay/speed", _replay_speed)
    app.router.add_post("/replay/fault", _replay_fault)

    async def start_executor(app: web.Application) -> None:
        app[EXECUTOR] = asyncio.create_task(_executor(state))

    async def stop_executor(app: web.Application) -> None:
        app[EXECUTOR].cancel()
        for clients in list(state.clients.values()):
            for client in list(clients):
                await client.ws.close()

    app.on_startup.append(start_executor)
    app.on_shutdown.append(stop_executor)
    return app


class ReplayServer:
    """Runs the replay app on its own thread and event loop; start() returns once it listens."""

    def __init__(
        self, fixtures: Path, default: str = "fresh", speed: float = 0.0, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.fixtures = fixtures
        self.recordings = load_recordings(fixtures)
        self._default, self._speed = default, speed
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.state: ReplayState | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ReplayServer:
        self._thread = threading.Thread(target=self._run, name="replay-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"replay server did not start within {timeout}s")
        if self._error is not None:
            raise RuntimeError(f"replay server failed to start: {self._error}") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as e:
            self._error = e
            self._ready.set()
            return
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    async def _serve(self) -> None:
        self.state = ReplayState(self.recordings, self.fixtures, self._default, self._speed)
        self._runner = web.AppRunner(build_app(self.state), handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the port chosen when 0 was asked
        self._ready.set()

    def call(self, function: Any, *args: Any, timeout: float = 5.0) -> Any:
        """Run function(state, *args) on the server's loop and return its result (for tests)."""

        async def invoke() -> Any:
            return function(self.state, *args)

        return asyncio.run_coroutine_threadsafe(invoke(), self._loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is None or not self._loop.is_running():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
