"""The server-sent event streams: one job's (`id:` its `seq`, ending at its final state) and everything's (`id:`
the hub's `EPOCH-N`), both resumable with `Last-Event-ID` (or `?last_event_id=`).

A stream subscribes to the hub and reads the hub's memory in one synchronous step, so no event falls between the
events it replays and the live ones. When the events after the given id are no longer in memory (or never were:
the web server started after them), the stream starts with a `snapshot` event (`"snapshot": true`): the job's
`status` (or, for everything, the worker's status and the jobs not yet ended), then goes on live. Keep-alive
comments every `keepalive` seconds; a stream too slow for its queue gets a `dropped` event and ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from pixflow.vocabulary import ACTIVE, TERMINAL_STATES
from pixflow_web.hub import Hub, Item, Published, Subscriber, to_json
from pixflow_web.link import WorkerLink
from pixflow_web.routes import LAST_EVENT_ID

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Content-Type": "text/event-stream; charset=utf-8"}
RETRY_MS = 1000  # what a browser waits before it reconnects


class StreamEnded(Exception):
    """The job reached its final state, or the stream was dropped or closed."""


def frame(event_id: str | None, name: str, data: str) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {data}\n\n".encode()


def last_event_id(request: web.Request) -> str | None:
    value = request.headers.get(LAST_EVENT_ID) or request.query.get("last_event_id")
    return value.strip() or None if value else None


def is_final(published: Published) -> bool:
    return published.name == "state" and published.event.get("to") in TERMINAL_STATES


async def _open(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers=HEADERS)
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MS}\n: open\n\n".encode())  # the stream is live from here
    return response


def _clean(reply: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in reply.items() if key not in ("v", "req_id", "type")}


async def _live(response: web.StreamResponse, subscriber: Subscriber, keepalive: float, sent: int | None) -> None:
    """Write the subscriber's events as they come; `sent`: a job stream's last seq written (skip up to it)."""
    last_id: str | None = None
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscriber.ready.wait(), keepalive)
        if subscriber.closed:
            raise StreamEnded
        if subscriber.dropped:
            reason = {"reason": "this stream read too slowly; reconnect with Last-Event-ID", "last_event_id": last_id}
            await response.write(frame(None, "dropped", to_json(reason)))
            raise StreamEnded
        items = subscriber.take()
        if not items:
            await response.write(b": keep-alive\n\n")
            continue
        for event_id, published in items:
            if sent is not None and int(event_id) <= sent:
                continue
            await response.write(frame(event_id, published.name, published.data))
            last_id = event_id
            if sent is not None:
                sent = int(event_id)
                if is_final(published):
                    raise StreamEnded


async def _replay(response: web.StreamResponse, items: list[Item], job: bool) -> None:
    for event_id, published in items:
        await response.write(frame(event_id, published.name, published.data))
        if job and is_final(published):
            raise StreamEnded


async def one_job(request: web.Request, hub: Hub, link: WorkerLink, keepalive: float) -> web.StreamResponse:
    job_id = request.match_info["job_id"]
    given = last_event_id(request)
    last_seq = int(given) if given and given.isdigit() else 0
    subscriber = hub.subscribe(job_id=job_id)
    replay = hub.job_since(job_id, last_seq)
    newest = hub.job_last(job_id)
    response = web.StreamResponse()
    try:
        response = await _open(request)
        if replay == [] and newest is not None and is_final(newest):
            raise StreamEnded  # the caller has every event, the final state included
        sent = last_seq
        if replay is None:
            status = await link.call("status", {"job_id": job_id})
            if status.get("type") == "error" and status.get("code") != "not_found":
                await response.write(frame(None, "error", to_json(_clean(status))))
                raise StreamEnded
            if status.get("type") == "error":  # a job to be: its events are awaited (subscribe, then generate)
                await response.write(f": job {job_id} is not known yet: waiting for its events\n\n".encode())
            elif int(status.get("seq") or 0) > last_seq:
                sent = int(status.get("seq") or 0)
                snapshot = {"snapshot": True, "topic": None, **_clean(status)}
                await response.write(frame(str(sent), "snapshot", to_json(snapshot)))
                if status.get("state") in TERMINAL_STATES:
                    raise StreamEnded
            replay = []
        await _replay(response, replay, job=True)
        sent = int(replay[-1][0]) if replay else sent
        await _live(response, subscriber, keepalive, sent)
    except (StreamEnded, ConnectionResetError):
        pass
    finally:
        hub.unsubscribe(subscriber)
    return response


async def everything(request: web.Request, hub: Hub, link: WorkerLink, keepalive: float) -> web.StreamResponse:
    prefixes = tuple(prefix for prefix in request.query.get("topics", "").split(",") if prefix)
    subscriber = hub.subscribe(prefixes=prefixes)
    replay = hub.since(last_event_id(request), prefixes)
    start_id = hub.global_id(hub.count)
    response = web.StreamResponse()
    try:
        response = await _open(request)
        if replay is None:
            worker = await link.call("status", {})
            jobs = await link.call("list_jobs", {"state": sorted(state.value for state in ACTIVE), "limit": 1000})
            snapshot = {"snapshot": True, "worker": _clean(worker), "jobs": jobs.get("jobs", [])}
            await response.write(frame(start_id, "snapshot", to_json(snapshot)))
            replay = []
        await _replay(response, replay, job=False)
        await _live(response, subscriber, keepalive, None)
    except (StreamEnded, ConnectionResetError):
        pass
    finally:
        hub.unsubscribe(subscriber)
    return response
