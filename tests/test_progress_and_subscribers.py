"""Progress, ETA and previews on the recordings; late and slow subscribers."""

from __future__ import annotations

import zmq

from pixflow.protocol import unpack
from tests.helpers import TOPIC_PROGRESS, TOPIC_STATE, play_next, run_job, wait_for


def _progress_events(events):
    return [e for topic, e in events if topic.startswith(TOPIC_PROGRESS)]


def test_overall_only_goes_forward_and_ends_at_one(worker, replay):
    replay.call(lambda state: setattr(state, "speed", 4.0))  # recorded timing, 4x faster
    events = run_job(worker.client(), "overall-1")
    overall = [e["overall"] for _, e in events if e.get("overall") is not None]
    assert overall == sorted(overall) and overall[-1] == 1.0 and overall[0] < 0.5
    progress = _progress_events(events)
    assert [p["stage_progress"] for p in progress] == [step / 8 for step in range(1, 9)]
    assert progress[0]["step_rate"] is None and all(p["step_rate"] > 0 for p in progress[1:])
    assert all(p["eta"] >= 0 for p in progress)
    assert events[-1][1]["eta"] == 0.0


def test_eta_learns_from_finished_jobs_of_the_same_shape(worker, replay):
    replay.call(lambda state: setattr(state, "speed", 2.0))
    client = worker.client()
    first = run_job(client, "eta-1", seed=1)
    second = run_job(client, "eta-2", seed=2)
    # At the start of loading, the first job only had defaults; the second knows this shape's real durations.
    run_time = (second[-1][1]["ts"] - second[1][1]["ts"]) / 1000
    first_guess, second_guess = first[1][1]["eta"], second[1][1]["eta"]
    assert abs(second_guess - run_time) < abs(first_guess - run_time)
    assert abs(second_guess - run_time) < 0.5 * run_time


def test_status_is_the_full_picture_for_a_late_subscriber(worker, replay):
    replay.call(lambda state: setattr(state, "speed", 1.0))
    client = worker.client()
    client.subscribe_job("late-1")
    client.wait_subscribed()
    client.call("generate", id="late-1", prompt="knight", size=[64, 64], steps=8, previews=True)
    _, progress = client.next_event(
        10, want=lambda topic, event: topic.startswith(TOPIC_PROGRESS) and event["value"] == 2
    )
    late = worker.client()  # joins now: everything it needs is in one status reply
    snapshot = late.status("late-1")
    assert snapshot["state"] == "sampling" and snapshot["seq"] >= progress["seq"]
    assert snapshot["last_preview"]["step"] >= 1 and snapshot["last_preview"]["format"] == "jpeg"
    assert 0 < snapshot["overall"] < 1 and snapshot["eta"] > 0 and snapshot["progress"]["max"] == 8


def test_a_subscriber_that_never_reads_holds_up_nobody(start_worker, replay):
    worker = start_worker(replay.url, pub_hwm=50)
    stuck = zmq.Context.instance().socket(zmq.SUB)
    stuck.setsockopt(zmq.RCVHWM, 1)
    stuck.setsockopt(zmq.LINGER, 0)
    stuck.setsockopt(zmq.SUBSCRIBE, b"")
    stuck.connect(worker.worker.pub_endpoint)
    try:
        client = worker.client()
        client.subscribe(TOPIC_STATE.encode())
        client.wait_subscribed()
        wait_for(lambda: stuck.poll(100), what="the stuck subscriber to be connected")
        job_ids = [f"flood-{i}" for i in range(40)]
        for job_id in job_ids:  # each job publishes 8 previews of ~39 KB to the stuck subscriber
            client.call("generate", id=job_id, prompt="p", size=[64, 64], steps=8, previews=True)
        seen: dict[str, list[str]] = {job_id: [] for job_id in job_ids}
        while any(not states or states[-1] != "done" for states in seen.values()):
            _, event = client.next_event(20, want=lambda topic, e: topic.startswith(TOPIC_STATE))
            seen[event["job_id"]].append(event["to"])
        assert all(states[0] == "queued" and states[-1] == "done" for states in seen.values())
        assert client.ping()["type"] == "pong"
        # The stuck subscriber got what fit in its queue and lost the rest; nobody waited for it.
        received = 0
        while stuck.poll(0):
            unpack(stuck.recv_multipart()[1])
            received += 1
        assert received < 40 * 16
    finally:
        stuck.close(0)


def test_two_sampler_progress_restarts_per_sampler_and_overall_still_only_goes_forward(start_worker, recorded_replay):
    play_next(recorded_replay, "two_pass")
    events = run_job(start_worker(recorded_replay.url).client(), "two-pass-1", workflow="txt2img_2pass")
    progress = [(e["node"], e["value"]) for e in _progress_events(events)]
    nodes = list(dict.fromkeys(node for node, _ in progress))
    assert len(nodes) == 2
    for node in nodes:
        values = [value for n, value in progress if n == node]
        assert values == list(range(1, len(values) + 1))
    overall = [e["overall"] for _, e in events if e.get("overall") is not None]
    assert overall == sorted(overall) and overall[-1] == 1.0
    assert events[-1][1]["outputs"][0]["width"] == 128


def test_batch_of_four_saves_four_images(start_worker, recorded_replay):
    play_next(recorded_replay, "batch4")
    events = run_job(start_worker(recorded_replay.url).client(), "batch-4", batch_size=4)
    outputs = events[-1][1]["outputs"]
    assert [o["index"] for o in outputs] == [0, 1, 2, 3]
    assert len({o["path"] for o in outputs}) == 4
    assert len([t for t, _ in events if t.startswith("job.output.")]) == 4
