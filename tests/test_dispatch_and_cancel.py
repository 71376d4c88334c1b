"""Dispatch to ComfyUI, a ComfyUI that is down, and cancel in pixflow's queue, ComfyUI's queue and mid-run."""

from __future__ import annotations

import socket

import pytest

from pixflow.client import ClientError
from pixflow.replay.server import ReplayServer
from tests.helpers import FIXTURES, states_of, wait_for


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_comfyui_down_is_reported_with_its_url_and_jobs_wait_until_it_is_back(start_worker):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    running = start_worker(url)
    client = running.client()
    client.subscribe(b"backend.", b"job.state.wait-1")
    client.wait_subscribed()
    client.call("generate", id="wait-1", prompt="knight", size=[64, 64], steps=8)
    # The down event may precede our subscription; status always tells.
    backend = wait_for(lambda: (b := client.status()["backends"][0])["up"] is False and b, what="backend down")
    assert url in backend["reason"] and "unreachable" in backend["reason"]
    assert client.status("wait-1")["state"] == "queued"
    server = ReplayServer(FIXTURES, speed=0, port=port).start()
    try:
        _, up = client.next_event(15, want=lambda t, e: t == "backend.local" and e.get("up") is True)
        assert up["url"] == url
        _, done = client.next_event(15, want=lambda t, e: t == "job.state.wait-1" and e.get("to") in ("done", "failed"))
        assert done.get("to") == "done"
        assert client.status()["backends"][0]["up"] is True
    finally:
        server.stop()


def test_cancel_in_pixflows_queue_never_reaches_comfyui(start_worker, replay):
    port = _free_port()  # nothing listens: the job cannot leave pixflow's queue
    running = start_worker(f"http://127.0.0.1:{port}")
    client = running.client()
    client.call("generate", id="never-1", prompt="knight", size=[64, 64])
    reply = client.cancel("never-1")
    assert reply["state"] == "cancelled" and reply["cancel_requested"] is True
    with pytest.raises(ClientError) as info:
        client.cancel("never-1")
    assert info.value.code == "already_finished"


def test_cancel_while_waiting_in_comfyuis_queue_removes_it_there(worker, replay):
    replay.call(lambda state: setattr(state, "speed", 1.0))  # recorded timing: the first job takes ~1.6 s
    client = worker.client()
    client.subscribe(b"job.state.")
    client.wait_subscribed()
    client.call("generate", id="first", prompt="knight", size=[64, 64], steps=8)
    client.call("generate", id="second", prompt="wizard", size=[64, 64], steps=8)
    wait_for(
        lambda: replay.call(lambda s: len([r for r in s.pending if not r.deleted]) == 1 and s.running),
        what="the second prompt to wait in ComfyUI's queue",
    )
    second_prompt = client.status("second")["prompt_id"]
    client.cancel("second")
    _, event = client.next_event(10, want=lambda t, e: e.get("job_id") == "second" and e.get("to") == "cancelled")
    assert event["from"] == "queued"
    assert replay.call(lambda s: all(r.deleted for r in s.pending if r.prompt_id == second_prompt))
    _, first = client.next_event(10, want=lambda t, e: e.get("job_id") == "first" and e.get("to") in ("done", "failed"))
    assert first["to"] == "done"
    assert second_prompt not in replay.call(lambda s: dict(s.history))


def test_cancel_while_running_interrupts_that_prompt_only(worker, replay):
    replay.call(lambda state: setattr(state, "speed", 1.0))
    client = worker.client()
    client.subscribe_job("running-1")
    client.wait_subscribed()
    client.call("generate", id="running-1", prompt="knight", size=[64, 64], steps=8)
    client.next_event(10, want=lambda t, e: t.startswith("job.progress.") and e.get("job_id") == "running-1")
    client.cancel("running-1")
    events = list(client.follow("running-1", 10))
    assert states_of(events)[-1] == "cancelled"
    assert events[-1][1]["from"] == "sampling"
    history = replay.call(lambda s: dict(s.history))
    assert history[client.status("running-1")["prompt_id"]]["status"]["status_str"] == "error"
    assert not (worker.output_dir / "running-1").exists()


def test_priority_decides_what_leaves_pixflows_queue_first(start_worker, replay):
    port = _free_port()
    running = start_worker(f"http://127.0.0.1:{port}", max_inflight=1)
    client = running.client()
    client.subscribe(b"job.state.")
    client.wait_subscribed()
    for job_id, priority in (("low", 0), ("high", 10), ("low2", 0), ("mid", 5)):
        client.call("generate", id=job_id, prompt="p", size=[64, 64], priority=priority)
    server = ReplayServer(FIXTURES, speed=0, port=port).start()
    try:
        for _ in range(4):
            client.next_event(15, want=lambda t, e: e.get("to") == "done")
        # What leaves pixflow's queue first is what ComfyUI is sent first. The order the jobs end in is not the
        # same thing: a prompt's slot frees once ComfyUI has run it, so the next one runs while the first one's
        # images download, and it may be saved first.
        job_of = {client.status(job_id)["prompt_id"]: job_id for job_id in ("low", "high", "low2", "mid")}
        posted = server.call(lambda state: [record.prompt_id for record in state.timeline])
        assert [job_of[prompt_id] for prompt_id in posted] == ["high", "mid", "low", "low2"]
    finally:
        server.stop()


def test_list_jobs_filters_and_pages(worker):
    client = worker.client()
    client.subscribe(b"job.state.")
    client.wait_subscribed()
    for i in range(5):
        client.call("generate", id=f"list-{i}", prompt="p", size=[64, 64])
    for _ in range(5):
        client.next_event(10, want=lambda t, e: e.get("to") == "done")
    page = client.call("list_jobs", state="done", limit=2, offset=1)
    assert page["total"] == 5 and [j["job_id"] for j in page["jobs"]] == ["list-3", "list-2"]
    assert client.call("list_jobs", state=["queued", "failed"])["total"] == 0
    # Keyset pages: each `next` continues where the page ended; the last page has none.
    seen, before = [], None
    while True:
        page = client.call("list_jobs", state="done", limit=2, **({"before": before} if before else {}))
        seen += [j["job_id"] for j in page["jobs"]]
        before = page["next"]
        if before is None:
            break
    assert seen == [f"list-{i}" for i in range(4, -1, -1)]
    missing = client.request({"type": "list_jobs", "v": 1, "before": "no-such-job"})
    assert missing["type"] == "error" and missing["code"] == "not_found"


def test_an_unconfirmed_cancel_is_escalated_to_a_plain_interrupt(start_worker, replay):
    replay.call(lambda state: (setattr(state, "speed", 1.0), setattr(state, "ignore_targeted_interrupt", True)))
    worker = start_worker(replay.url, cancel_timeout=0.3)
    client = worker.client()
    client.subscribe_job("stubborn")
    client.wait_subscribed()
    client.call("generate", id="stubborn", prompt="knight", size=[64, 64], steps=8)
    client.next_event(10, want=lambda t, e: t.startswith("job.progress."))
    client.cancel("stubborn")
    events = list(client.follow("stubborn", 10))
    assert states_of(events)[-1] == "cancelled"
