"""The WebSocket to ComfyUI drops or goes silent mid-job: the worker reconnects, reconciles, and finishes the job."""

from __future__ import annotations

import json
import urllib.request

import pytest

from pixflow.client import ClientError
from tests.helpers import FULL_RUN, TOPIC_PROGRESS, TOPIC_STATE, wait_for

FAST_WATCHDOG = {"ws_ping_interval": 0.2, "ws_ping_timeout": 0.3, "reconcile_interval": 0.05}


def _start_and_reach_sampling(worker, replay, job_id: str):
    replay.call(lambda state: setattr(state, "speed", 1.0))
    client = worker.client()
    client.subscribe_job(job_id)
    client.subscribe(b"backend.")
    client.wait_subscribed()
    client.call("generate", id=job_id, prompt="knight", size=[64, 64], steps=8)
    client.next_event(10, want=lambda topic, event: topic.startswith(TOPIC_PROGRESS))
    return client


def test_socket_closed_mid_job(start_worker, replay):
    worker = start_worker(replay.url, **FAST_WATCHDOG)
    client = _start_and_reach_sampling(worker, replay, "drop-1")
    # Through the HTTP fault route, as an external tool would; the server keeps running the prompt.
    request = urllib.request.Request(
        f"{replay.url}/replay/fault",
        data=json.dumps({"drop": True}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.load(response)["clients"] == 1
    _, down = client.next_event(5, want=lambda topic, event: topic == "backend.local" and event["up"] is False)
    assert "lost the WebSocket" in down["reason"]
    job = wait_for(lambda: (j := client.status("drop-1"))["state"] == "done" and j, timeout=15, what="done")
    assert len(job["outputs"]) == 1
    assert list(replay.call(lambda state: dict(state.prompts_received)).values()) == [1]
    assert replay.call(lambda state: len(state.clients)) == 1  # reconnected, with a fresh clientId


def test_socket_goes_silent_mid_job(start_worker, replay):
    worker = start_worker(replay.url, **FAST_WATCHDOG)
    client = _start_and_reach_sampling(worker, replay, "stall-1")
    stalled_ids = replay.call(lambda state: list(state.clients))
    replay.call(lambda state: [setattr(c, "stalled", True) for cs in state.clients.values() for c in cs])
    _, down = client.next_event(5, want=lambda topic, event: topic == "backend.local" and event["up"] is False)
    assert "no answer to a ping" in down["reason"]
    job = wait_for(lambda: (j := client.status("stall-1"))["state"] == "done" and j, timeout=15, what="done")
    assert len(job["outputs"]) == 1
    assert set(replay.call(lambda state: list(state.clients))) - set(stalled_ids)  # a new socket, a new clientId


def test_next_job_after_a_reconnect_gets_live_events_again(start_worker, replay):
    worker = start_worker(replay.url, **FAST_WATCHDOG)
    client = _start_and_reach_sampling(worker, replay, "before")
    replay.call(lambda state: [setattr(c, "stalled", True) for cs in state.clients.values() for c in cs])
    wait_for(lambda: client.status("before")["state"] == "done", timeout=15)
    replay.call(lambda state: setattr(state, "speed", 0.0))
    client.subscribe_job("after")
    client.call("generate", id="after", prompt="wizard", size=[64, 64], steps=8)
    states = [e["to"] for t, e in client.follow("after", 10) if t.startswith(TOPIC_STATE)]
    assert states == FULL_RUN


def test_queue_limit_answers_queue_full(start_worker):
    worker = start_worker("http://127.0.0.1:9", max_queued=2)  # nothing there: jobs stay in pixflow's queue
    client = worker.client()
    for i in range(2):
        client.call("generate", id=f"q{i}", prompt="p", size=[64, 64])
    with pytest.raises(ClientError) as info:
        client.call("generate", id="q2", prompt="p", size=[64, 64])
    assert info.value.code == "queue_full"
    client.cancel("q0")
    assert client.call("generate", id="q2", prompt="p", size=[64, 64])["job_id"] == "q2"


def test_pause_holds_dispatch_and_resume_releases_it(worker, replay):
    client = worker.client()
    assert client.call("pause")["paused"] is True
    client.call("generate", id="held", prompt="p", size=[64, 64])
    client.subscribe_job("held")
    client.wait_subscribed()
    held = client.status("held")
    assert held["state"] == "queued"
    # It says why it waits (no free slot is missing: the worker holds it), and has no ETA: it is not running and
    # nothing says when it will.
    assert "paused" in held["wait_reason"] and "slot" not in held["wait_reason"]
    assert (held["eta"], held["overall"]) == (None, None)
    assert replay.call(lambda state: dict(state.prompts_received)) == {}
    assert client.call("resume")["paused"] is False
    assert [e["to"] for t, e in client.follow("held", 10) if t.startswith(TOPIC_STATE)][-1] == "done"
