"""Routes under /replay/ that steer the stand-in from tests, benchmarks and demos: what plays next, how fast,
what it counted, and faults to inject (dropped or silent sockets, held prompts, slow downloads, a restart)."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from pixflow.replay.state import STATE


async def _playlist(request: web.Request) -> web.Response:
    """{"recordings": [names]}: play these, in order, for the next prompts."""
    state = request.app[STATE]
    body = await request.json()
    names = body.get("recordings") or []
    unknown = [name for name in names if name not in state.recordings]
    if unknown:
        return web.json_response({"error": f"unknown recordings: {unknown}"}, status=400)
    state.playlist.extend(names)
    return web.json_response({"playlist": list(state.playlist)})


async def _stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response(
        {
            "prompts_received": dict(state.prompts_received),
            "clients": len(state.clients),
            "queue_remaining": state.queue_remaining(),
            "recordings": sorted(state.recordings),
            # The GPU it plays (models.py) and what it did: a pool benchmark reads switches and run times here.
            "checkpoints": state.checkpoints(),
            "loras": state.loras(),
            "profile": asdict(state.profile),
            "loaded": state.loaded,
            "model_loads": state.model_loads,
            "model_switches": state.model_switches,
            "prompts_run": sum(1 for record in state.timeline if record.ended is not None),
            "runs": [asdict(record) for record in state.timeline],  # times: time.monotonic() seconds
        }
    )


async def _speed(request: web.Request) -> web.Response:
    """{"speed": x}: 0 plays without delays, 1 at the recorded timing."""
    state = request.app[STATE]
    state.speed = float((await request.json())["speed"])
    return web.json_response({"speed": state.speed})


async def _send_log(request: web.Request) -> web.Response:
    """POST {"record": true|false}: start (afresh) or stop logging each event as it is sent; GET: the log, as
    [monotonic ns, prompt id, event type, progress value] (a benchmark measures latency against it)."""
    state = request.app[STATE]
    if request.method == "POST":
        state.send_log = [] if (await request.json()).get("record") else None
    return web.json_response({"log": state.send_log})


async def _fault(request: web.Request) -> web.Response:
    """Fault injection: {"drop": true} closes every WebSocket; {"stall": true} silences the open ones;
    {"hold": true|false} holds prompts before they start; {"view_delay": s}; {"forget": true} loses
    queue and history, as a ComfyUI restart does."""
    state = request.app[STATE]
    body = await request.json()
    everyone = state.listeners()
    if body.get("drop"):
        for listener in everyone:
            await listener.ws.close()
    if body.get("stall"):
        for listener in everyone:
            listener.stalled = True
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


def add_replay_routes(app: web.Application) -> None:
    app.router.add_post("/replay/playlist", _playlist)
    app.router.add_get("/replay/stats", _stats)
    app.router.add_post("/replay/speed", _speed)
    app.router.add_post("/replay/fault", _fault)
    app.router.add_get("/replay/send_log", _send_log)
    app.router.add_post("/replay/send_log", _send_log)
