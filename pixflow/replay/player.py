"""Playing recordings: one prompt at a time, in submission order, like ComfyUI's single execution thread."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from pixflow.replay.frames import in_client_order, preview_for
from pixflow.replay.state import Listener, ReplayState, Run

log = logging.getLogger(__name__)

INTERRUPT_WAIT = 60.0  # how long a recorded interrupt point waits for the client's own interrupt


# Sending to clients.
async def send_text(state: ReplayState, text: str, client_id: str | None) -> None:
    """To that client's sockets, or to every socket for a prompt submitted without a client_id."""
    for listener in state.listeners(client_id or None):
        await send(listener, text)


async def send(listener: Listener, message: str | bytes) -> None:
    """Like ComfyUI, a socket that went away mid-send costs that client its message, never the prompt."""
    if listener.ws.closed or listener.stalled:
        return
    try:
        if isinstance(message, str):
            await listener.ws.send_str(message)
        else:
            await listener.ws.send_bytes(message)
    except (ConnectionError, RuntimeError) as e:  # aiohttp's ClientConnectionResetError is a ConnectionError
        log.debug("replay: client %s went away: %s", listener.client_id, e)


def status_message(state: ReplayState, sid: str | None = None) -> str:
    """The `status` event: ComfyUI's queue count, with `sid` only in a socket's greeting."""
    data: dict[str, Any] = {"status": {"exec_info": {"queue_remaining": state.queue_remaining()}}}
    if sid is not None:
        data["sid"] = sid
    return json.dumps({"type": "status", "data": data})


async def broadcast_status(state: ReplayState) -> None:
    await send_text(state, status_message(state), None)


# Playing one prompt.
ENDINGS = ("execution_success", "execution_error")  # after these, ComfyUI's queue no longer counts the prompt


async def play(state: ReplayState, run: Run) -> None:
    """Send the recording's frames with the run's prompt id, at the state's speed, up to the end or an interrupt."""
    recording = run.recording
    old_id = recording.prompt_id or ""
    node: str | None = None
    # Until execution starts, the recorded delays count from the POST: a prompt that waited in the queue
    # starts as soon as the one before it ends, as in ComfyUI.
    started, since_post = False, 0.0
    ended = written = False  # the prompt's end (success or error) has been sent; its history entry written
    wants_metadata = any(listener.wants_metadata for listener in state.clients.get(run.client_id or "", []))
    for frame in in_client_order(recording.frames, wants_metadata):
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
            if started:  # the work of the run: slower on a slower GPU
                await asyncio.sleep(frame.delay * state.profile.speed_factor / state.speed)
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
                if ended and state.running is run:
                    # ComfyUI's task_done: the history entry is written and the prompt leaves the running slot
                    # together, then the queue's new count goes out (0 when nothing else waits, as recorded).
                    _write_history(state, run)
                    state.running, written = None, True
                await broadcast_status(state)
                continue
            ended = ended or kind in ENDINGS
            run.images.seen(kind, data)
            if kind == "executed" and run.images.executed(data, state.saved):
                text = json.dumps(message)  # the recorded event, naming the files of this run (run_images.py)
            if kind == "executing":
                node = data.get("node")
                if node is None and not written:
                    _write_history(state, run)  # before the final `executing`, as ComfyUI does
            await send_text(state, text, run.client_id)
            if kind == "execution_start":
                started = True
            logged = kind in ("execution_start", "progress") or (kind == "executing" and node is None)
            if state.send_log is not None and logged:
                state.send_log.append((time.monotonic_ns(), run.prompt_id, kind, data.get("value")))
            if kind == "execution_start":
                await _before_first_node(state, run)
        elif frame.binary is not None:
            listeners = list(state.clients.get(run.client_id or "", []))
            binary = run.images.preview(frame.binary, node) if listeners else frame.binary
            for listener in listeners:
                await send(listener, preview_for(binary, listener.wants_metadata, run.prompt_id, node))


async def _before_first_node(state: ReplayState, run: Run) -> None:
    """The model switch and the added work of the server's profile (models.py), timed on the run's record."""
    profile, record = state.profile, run.record
    if record is not None:
        record.started = time.monotonic()
    wanted = record.checkpoint if record is not None else None
    if wanted is not None and wanted != state.loaded:
        # Loading a model is not interruptible in ComfyUI either: the whole cost is paid.
        await asyncio.sleep(profile.switch_cost)
        state.model_switches += state.loaded is not None
        state.model_loads += 1
        state.loaded = wanted
        if record is not None:
            record.switched = True
    if record is not None:
        record.loaded = time.monotonic()
    work = profile.speed_factor * profile.run_seconds
    if work > 0:
        with contextlib.suppress(TimeoutError):  # cut short by an interrupt, as ComfyUI checks between steps
            await asyncio.wait_for(run.interrupted.wait(), work)


async def _play_interrupted_tail(state: ReplayState, run: Run, node: str | None) -> None:
    """What ComfyUI sends when a running prompt is interrupted (as in fixtures/comfyui-0.3.75/interrupt.jsonl)."""
    node_type = (run.graph.get(node) or {}).get("class_type") if node else None
    interrupted: dict[str, Any] = {
        "prompt_id": run.prompt_id,
        "node_id": node,
        "node_type": node_type,
        "executed": [],
        "timestamp": int(time.time() * 1000),
    }
    await send_text(state, json.dumps({"type": "execution_interrupted", "data": interrupted}), run.client_id)
    state.running = None
    await broadcast_status(state)
    state.history[run.prompt_id] = {
        "prompt": run.queue_item(),
        "outputs": {},
        "status": {"status_str": "error", "completed": False, "messages": [["execution_interrupted", interrupted]]},
        "meta": {},
    }
    end = {"type": "executing", "data": {"node": None, "prompt_id": run.prompt_id}}
    await send_text(state, json.dumps(end), run.client_id)


def _write_history(state: ReplayState, run: Run) -> None:
    recorded = run.recording.history
    if recorded is None:
        return
    old_id = run.recording.prompt_id or ""
    entry = json.loads(json.dumps(recorded).replace(old_id, run.prompt_id)) if old_id else dict(recorded)
    entry["prompt"] = run.queue_item()
    run.images.fill_history(entry.get("outputs"))
    state.history[run.prompt_id] = entry


async def execute(state: ReplayState) -> None:
    """Play queued prompts one at a time until cancelled; a failed replay is logged and the next one plays."""
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
            await play(state, run)
        except Exception:
            log.exception("replay of %s failed", run.prompt_id)
        finally:
            if run.record is not None:
                run.record.ended = time.monotonic()
            if state.running is run:
                state.running = None
