"""The job state machine: every legal and illegal transition, passes, and removal of finished jobs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from pixflow.comfy.nodes import stage_for
from pixflow.jobs.machine import JobMachine, Trigger
from pixflow.vocabulary import ACTIVE, STAGES, TERMINAL, JobState


@dataclass(eq=False)
class FakeJob:
    job_id: str
    passes: int = 0
    state: str = "queued"
    changes: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def machine():
    changes: list[tuple[str, JobState, JobState]] = []
    machine = JobMachine(lambda job, source, dest: changes.append((job.job_id, source, dest)))
    machine.changes = changes
    return machine


def _job_in(machine: JobMachine, state: JobState) -> FakeJob:
    job = FakeJob(f"job-{state.value}")
    machine.add(job, state)
    return job


TRIGGERS = [f"enter_{stage.value}" for stage in STAGES] + ["requeue", "finish", "fail", "cancel"]
DESTINATION = {f"enter_{stage.value}": stage for stage in STAGES} | {
    "requeue": JobState.QUEUED,
    "finish": JobState.DONE,
    "fail": JobState.FAILED,
    "cancel": JobState.CANCELLED,
}


def fire(machine: JobMachine, job: FakeJob, trigger: str) -> bool:
    """A trigger by its name: a stage's entry through enter_stage, the others through fire."""
    if trigger.startswith("enter_"):
        return machine.enter_stage(job, JobState(trigger.removeprefix("enter_")))
    return machine.fire(job, Trigger(trigger))


@pytest.mark.parametrize(("state", "trigger"), list(itertools.product(list(JobState), TRIGGERS)))
def test_every_trigger_from_every_state(machine, state, trigger):
    job = _job_in(machine, state)
    dest = DESTINATION[trigger]
    legal = state in ACTIVE and dest != state and (trigger != "requeue" or state in STAGES)
    assert fire(machine, job, trigger) is legal
    assert job.state == (dest.value if legal else state.value)
    if legal:
        assert machine.changes == [(job.job_id, state, dest)]
    else:
        assert machine.changes == []


def test_queued_is_reentered_only_by_requeue(machine):
    job = _job_in(machine, JobState.SAMPLING)
    assert not fire(machine, job, "enter_queued")
    assert job.state == "sampling"
    assert fire(machine, job, "requeue") and job.state == "queued" and job.passes == 0


def test_terminal_states_remove_the_job_from_the_machine(machine):
    jobs = [_job_in(machine, JobState.SAMPLING) for _ in range(3)]
    assert len(machine) == 3
    for job, trigger in zip(jobs, ["finish", "fail", "cancel"], strict=True):
        fire(machine, job, trigger)
    assert len(machine) == 0
    assert {JobState(job.state) for job in jobs} == TERMINAL
    assert not fire(machine, jobs[0], "enter_sampling")  # a late event for a removed job is dropped


def test_entering_the_current_stage_is_not_a_transition(machine):
    job = _job_in(machine, JobState.SAMPLING)
    assert machine.enter_stage(job, JobState.SAMPLING) is False
    assert machine.changes == []


def test_moving_back_to_an_earlier_stage_counts_a_pass(machine):
    job = _job_in(machine, JobState.QUEUED)
    for stage in (
        JobState.LOADING,
        JobState.SAMPLING,
        JobState.DECODING,
        JobState.ENCODING,
        JobState.SAMPLING,
        JobState.DECODING,
        JobState.SAVING,
    ):
        assert machine.enter_stage(job, stage)
    assert job.passes == 1
    assert machine.enter_stage(job, JobState.SAMPLING)
    assert job.passes == 2


def test_stage_mapping_defaults_and_workflow_overrides():
    assert stage_for("CheckpointLoaderSimple") == JobState.LOADING
    assert stage_for("LoraLoader") == JobState.LOADING
    assert stage_for("CLIPTextEncode") == JobState.ENCODING
    assert stage_for("VAEEncode") == JobState.ENCODING
    assert stage_for("KSamplerAdvanced") == JobState.SAMPLING
    assert stage_for("SamplerCustomAdvanced") == JobState.SAMPLING
    assert stage_for("VAEDecodeTiled") == JobState.DECODING
    assert stage_for("SaveImage") == JobState.SAVING
    assert stage_for("EmptyLatentImage") is None
    assert stage_for("MySampler", {"MySampler": JobState.SAMPLING}) == JobState.SAMPLING
    assert stage_for("KSampler", {"KSampler": JobState.DECODING}) == JobState.DECODING
