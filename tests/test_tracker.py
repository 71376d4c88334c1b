"""How ComfyUI events move a job: the multi-pass rule, stray events, events after the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixflow.comfy import events as ce
from pixflow.jobs.job import Job
from pixflow.jobs.machine import JobMachine
from pixflow.jobs.tracker import JobTracker
from pixflow.workflows import load_workflows
from pixflow.workflows.params import GenerateParams

WORKFLOWS = load_workflows(Path(__file__).resolve().parent.parent / "workflows")


class RecordingPublisher:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def job_event(self, prefix: str, job: Job, fields: dict) -> None:
        self.events.append((prefix, {"seq": job.next_seq(), **fields}))


class RecordingListener:
    def __init__(self) -> None:
        self.ended: list[Job] = []
        self.succeeded: list[Job] = []

    def on_success(self, job: Job) -> None:
        self.succeeded.append(job)

    def on_prompt_end(self, job: Job) -> None:
        self.ended.append(job)


@pytest.fixture
def harness():
    states: list[str] = []
    machine = JobMachine(lambda job, source, dest: states.append(dest.value))
    publisher = RecordingPublisher()
    listener = RecordingListener()
    ended = listener.ended
    tracker = JobTracker(machine, publisher, listener)
    tracker.listener = listener

    def new_job(workflow: str = "txt2img") -> Job:
        params = GenerateParams(prompt="knight", seed=1)
        job = Job("job", params, WORKFLOWS[workflow], WORKFLOWS[workflow].fill(params), prompt_id="p1")
        machine.add(job)
        return job

    return tracker, new_job, states, publisher, ended


def _executing(*nodes: str | None) -> list[ce.Executing]:
    return [ce.Executing("p1", node) for node in nodes]


def test_two_pass_workflow_stays_in_sampling_through_the_upscale(harness):
    tracker, new_job, states, _, _ = harness
    job = new_job("txt2img_2pass")
    for event in _executing("4", "5", "6", "7", "3", "10", "11", "8", "9"):
        tracker.apply(job, event)
    assert states == ["loading", "encoding", "sampling", "decoding", "saving"]
    assert job.passes == 0


def test_encode_after_decode_starts_a_new_pass(harness):
    tracker, new_job, states, _, _ = harness
    job = new_job()
    # An img2img refinement: decode, encode the image again, sample again, decode again.
    job.workflow.graph["20"] = {"class_type": "VAEEncode", "inputs": {}}
    try:
        for event in _executing("4", "3", "8", "20", "3", "8", "9"):
            tracker.apply(job, event)
    finally:
        del job.workflow.graph["20"]
    assert states == ["loading", "sampling", "decoding", "encoding", "sampling", "decoding", "saving"]
    assert job.passes == 1


def test_unknown_nodes_and_unknown_events_change_nothing(harness):
    tracker, new_job, states, publisher, _ = harness
    job = new_job()
    tracker.apply(job, ce.Executing("p1", "999"))  # not in the graph
    tracker.apply(job, ce.Executing("p1", "5"))  # EmptyLatentImage: no stage
    tracker.apply(job, ce.Status(None, 3))
    tracker.apply(job, ce.ExecutionCached("p1", ("4",)))
    assert states == [] and job.state == "queued" and publisher.events == []


def test_events_after_the_end_are_dropped(harness):
    tracker, new_job, states, publisher, ended = harness
    job = new_job()
    tracker.apply(job, ce.ExecutionError("p1", "9", "SaveImage", "Exception", "boom"))
    assert states == ["failed"]
    for event in [*_executing("3", None), ce.Progress("p1", "3", 1, 8), ce.ExecutionSuccess("p1")]:
        tracker.apply(job, event)
    assert states == ["failed"] and publisher.events == [] and ended == []


def test_prompt_end_is_reported_once_for_success(harness):
    tracker, new_job, _, _, ended = harness
    job = new_job()
    tracker.apply(job, ce.ExecutionSuccess("p1"))
    tracker.apply(job, ce.Executing("p1", None))
    assert ended == [job] and tracker.listener.succeeded == [job]


def test_progress_is_published_with_the_stage(harness):
    tracker, new_job, _, publisher, _ = harness
    job = new_job()
    tracker.apply(job, ce.Executing("p1", "3"))
    tracker.apply(job, ce.Progress("p1", "3", 2, 8))
    [(topic, fields)] = publisher.events
    assert topic == "job.progress."
    assert {k: fields[k] for k in ("seq", "stage", "node", "value", "max")} == {
        "seq": 1,
        "stage": "sampling",
        "node": "3",
        "value": 2,
        "max": 8,
    }
    assert job.progress == {"node": "3", "value": 2, "max": 8}
