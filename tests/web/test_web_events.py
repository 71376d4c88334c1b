"""The server-sent event streams: a job's states in order to its end, resumption with Last-Event-ID (exactly the
events after it), a snapshot when the id is no longer in memory, the stream of everything, keep-alives, and a
slow stream that is dropped without delaying another."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

from pixflow.testing import ThreadWorker, wait_for
from tests.helpers import FULL_RUN
from tests.web.conftest import SMALL, TOKENS, SseReader, Web, states

JOB = {"prompt": "pixel art knight", **SMALL}


def _submit(web: Web, job_id: str) -> None:
    web.api.ok("POST", "/v1/jobs", {"id": job_id, **JOB})


def test_a_jobs_stream_opened_first_delivers_every_state_in_order_and_ends(web: Web) -> None:
    stream = SseReader(web.url, "/v1/jobs/sse-1/events")
    _submit(web, "sse-1")  # the stream was live before the job existed: it misses nothing
    events = stream.rest()
    assert states(events) == FULL_RUN
    assert [int(e.id or 0) for e in events] == list(range(1, len(events) + 1))  # every seq, once, in order
    assert events[-1].name == "state" and events[-1].data["to"] == "done"
    assert any("not known yet" in comment for comment in stream.comments)
    assert {e.name for e in events} >= {"state", "progress", "output"}


def test_reconnecting_with_last_event_id_gets_exactly_the_events_after_it(web: Web) -> None:
    stream = SseReader(web.url, "/v1/jobs/sse-2/events")
    _submit(web, "sse-2")
    first = stream.take(3)
    stream.close()  # mid-job, as a browser losing its connection
    resumed = SseReader(web.url, "/v1/jobs/sse-2/events", last_event_id=first[-1].id).rest()
    whole = SseReader(web.url, "/v1/jobs/sse-2/events").rest()  # the job has ended: all of it, from memory
    assert [e.id for e in first + resumed] == [e.id for e in whole]
    assert [e.data for e in first + resumed] == [e.data for e in whole]
    assert states(whole) == FULL_RUN and not any(e.name == "snapshot" for e in whole)


def test_an_id_no_longer_in_memory_starts_with_the_snapshot(
    worker: ThreadWorker, start_web: Callable[..., Web]
) -> None:
    web = start_web(worker, hub={"job_buffer": 4})
    _submit(web, "sse-3")
    web.api.wait_job("sse-3")
    events = SseReader(web.url, "/v1/jobs/sse-3/events", last_event_id="1").rest()
    assert [e.name for e in events] == ["snapshot"]  # the job had ended: its snapshot says all
    snapshot = events[0]
    assert snapshot.data["snapshot"] is True and snapshot.data["state"] == "done"
    assert snapshot.id == str(snapshot.data["seq"])
    recent = SseReader(web.url, "/v1/jobs/sse-3/events", last_event_id=str(int(snapshot.id or 0) - 2)).rest()
    assert [int(e.id or 0) for e in recent] == [int(snapshot.id or 0) - 1, int(snapshot.id or 0)]


def test_the_stream_of_everything_resumes_and_starts_over_with_a_snapshot(web: Web) -> None:
    stream = SseReader(web.url, "/v1/events?topics=job.state.")
    _submit(web, "sse-4")
    events = []
    while not events or events[-1].data.get("to") != "done":
        event = stream.next()
        assert event is not None
        events.append(event)
    stream.close()
    assert states(events) == FULL_RUN and all(e.data["topic"] == "job.state.sse-4" for e in events)
    epoch = events[0].id.rsplit("-", 1)[0] if events[0].id else ""
    numbers = [int((e.id or "").rsplit("-", 1)[1]) for e in events]
    assert numbers == sorted(numbers) and all(e.id and e.id.startswith(epoch) for e in events)
    _submit(web, "sse-4b")
    web.api.wait_job("sse-4b")
    resumed = SseReader(web.url, "/v1/events?topics=job.state.", last_event_id=events[2].id)
    after = resumed.take(len(events) - 3 + len(FULL_RUN))
    assert [e.id for e in after[: len(events) - 3]] == [e.id for e in events[3:]]
    assert states(after[len(events) - 3 :]) == FULL_RUN
    resumed.close()
    foreign = SseReader(web.url, "/v1/events", last_event_id="12345-6")  # another run's id
    snapshot = foreign.take(1)[0]
    assert snapshot.name == "snapshot" and snapshot.data["snapshot"] and "paused" in snapshot.data["worker"]
    foreign.close()


def test_keep_alive_comments_and_a_token_in_the_query(web: Web) -> None:
    stream = SseReader(web.url, f"/v1/events?topics=nothing.&access_token={TOKENS['viewer']}", role=None)
    assert stream.response.status == 200
    wait_for(lambda: stream.response.readline().startswith(b": keep-alive"), 5, "a keep-alive comment")
    stream.close()
    refused = SseReader(web.url, "/v1/events", role=None)
    assert refused.response.status == 401


def _publish_many(web: Web, count: int, size: int) -> Any:
    async def publish() -> None:
        for n in range(count):
            web.hub.publish("test.blob", {"n": n, "blob": "x" * size})
            await asyncio.sleep(0.002)

    return asyncio.run_coroutine_threadsafe(publish(), web.thread.loop)


def test_a_slow_stream_is_dropped_and_never_delays_another(worker: ThreadWorker, start_web: Callable[..., Web]) -> None:
    web = start_web(worker, hub={"queue_bound": 32})
    host, port = web.url.removeprefix("http://").rsplit(":", 1)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect((host, int(port)))
    request = f"GET /v1/events?topics=test. HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKENS['viewer']}\r\n\r\n"
    slow.sendall(request.encode())  # and then never reads
    fast = SseReader(web.url, "/v1/events?topics=test.")
    wait_for(lambda: web.hub.subscribers == 2, 5, "both streams to subscribe")
    count, started = 400, time.monotonic()
    publishing = _publish_many(web, count, 16_384)
    received = [event.data["n"] for event in fast.take(count)]
    publishing.result(20)
    assert received == list(range(count)), "the reading stream missed or reordered events"
    assert time.monotonic() - started < 15
    assert web.hub.dropped == 1
    slow.settimeout(10)
    seen = b""
    while b"event: dropped" not in seen:
        chunk = slow.recv(1 << 20)
        assert chunk, "the slow stream ended without its dropped event"
        seen = seen[-100:] + chunk
    slow.close()
    fast.close()
