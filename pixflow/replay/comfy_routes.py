"""The ComfyUI routes a job runner uses, answered from the replay state (docs/comfyui.md).

Every route is served under `/` and under `/api/`, as ComfyUI does.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from pixflow.replay.models import checkpoint_rejection
from pixflow.replay.player import broadcast_status, status_message
from pixflow.replay.state import STATE, Listener

# What the replay server answers to a client's feature_flags opt-in, as ComfyUI 0.3.75 does.
SERVER_FEATURE_FLAGS: dict[str, Any] = {"supports_preview_metadata": True, "max_upload_size": 104857600}
_CLOSING = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


async def _post_prompt(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        body = await request.json()
    except ValueError:
        return web.Response(status=500, text="invalid JSON body")  # ComfyUI's answer, in plain text
    prompt_id = str(body.get("prompt_id") or uuid.uuid4())
    state.prompts_received[prompt_id] += 1
    graph = body.get("prompt") or {}
    if state.profile.checkpoints is not None:  # a server given its own checkpoints refuses others, as ComfyUI does
        rejection = checkpoint_rejection(graph, state.object_info)
        if rejection is not None:
            return web.json_response(rejection, status=400)
    recording = state.next_recording()
    if recording.status != 200:
        return web.json_response(recording.reply, status=recording.status)
    run = state.new_run(prompt_id, body.get("client_id"), recording, graph)
    state.pending.append(run)  # queued before the reply is written, as ComfyUI does
    state.wakeup.set()
    await broadcast_status(state)
    return web.json_response({"prompt_id": prompt_id, "number": run.number, "node_errors": {}})


async def _websocket(request: web.Request) -> web.WebSocketResponse:
    state = request.app[STATE]
    ws = web.WebSocketResponse(max_msg_size=0)
    await ws.prepare(request)
    client_id = request.query.get("clientId") or uuid.uuid4().hex
    listener = Listener(ws, client_id)
    state.clients.setdefault(client_id, []).append(listener)
    await ws.send_str(status_message(state, sid=client_id))
    try:
        while not ws.closed:
            if listener.stalled:
                await asyncio.sleep(0.05)  # not reading: pings go unanswered
                continue
            try:
                message = await ws.receive(timeout=0.1)
            except TimeoutError:
                continue
            if message.type in _CLOSING:
                break
            if message.type == WSMsgType.TEXT:
                await _on_text(listener, message.data)
    finally:
        state.clients[client_id].remove(listener)
        if not state.clients[client_id]:
            del state.clients[client_id]
    return ws


async def _on_text(listener: Listener, text: str) -> None:
    """The one message a client sends: the feature_flags opt-in, answered with the server's own flags."""
    try:
        data = json.loads(text)
    except ValueError:
        return
    if data.get("type") == "feature_flags":
        listener.wants_metadata = bool((data.get("data") or {}).get("supports_preview_metadata"))
        await listener.ws.send_str(json.dumps({"type": "feature_flags", "data": SERVER_FEATURE_FLAGS}))


def _all_or_one(table: dict[str, Any], key: str | None) -> web.Response:
    """ComfyUI's answer on /history and /object_info: everything, or {key: item} for one key, {} when it has none."""
    if key is None:
        return web.json_response(table)
    item = table.get(key)
    return web.json_response({key: item} if item else {})


async def _get_history(request: web.Request) -> web.Response:
    return _all_or_one(request.app[STATE].history, request.match_info.get("prompt_id"))


async def _view(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    filename = request.query.get("filename", "")
    subfolder = request.query.get("subfolder", "")
    if not filename or ".." in filename or ".." in subfolder or filename.startswith("/") or subfolder.startswith("/"):
        return web.Response(status=400, text="invalid filename")
    drawn = state.saved.png(request.query.get("type", "output"), subfolder, filename)  # a run's (run_images.py)
    path = state.fixtures / "output" / subfolder / filename
    if drawn is None and not path.is_file():
        return web.Response(status=404, text="file not found")
    if state.view_delay:
        await asyncio.sleep(state.view_delay)
    return web.Response(body=drawn, content_type="image/png") if drawn is not None else web.FileResponse(path)


async def _get_queue(request: web.Request) -> web.Response:
    state = request.app[STATE]
    running = [state.running.queue_item()] if state.running else []
    pending = [run.queue_item() for run in state.pending if not run.deleted]
    return web.json_response({"queue_running": running, "queue_pending": pending})


async def _post_queue(request: web.Request) -> web.Response:
    """Deletes pending prompts only: a running one goes on (it takes an interrupt)."""
    state = request.app[STATE]
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
    """Interrupts the named prompt only if it runs now, or whatever runs without a name; always 200."""
    state = request.app[STATE]
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
    return _all_or_one(request.app[STATE].object_info, request.match_info.get("class_type"))


async def _models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    folder = request.match_info.get("folder")
    listed = {"checkpoints": state.checkpoints, "loras": state.loras}
    if folder is None:
        return web.json_response(list(listed))
    return web.json_response(listed[folder]() if folder in listed else [])


async def _system_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].system_stats)


ROUTES = (
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
)


def add_comfy_routes(app: web.Application) -> None:
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, f"/api{path}", handler)
