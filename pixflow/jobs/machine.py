"""The job state machine: states and transitions declared as data, one Machine for all jobs.

Rules (tested in tests/test_machine.py):

* A job starts `queued`. While ComfyUI executes it, the job is in the stage of the node that runs
  now (see comfy/nodes.py, DEFAULT_STAGE_OF_NODE). Cached nodes send no events, so stages may be skipped;
  a fully cached prompt goes straight from `queued` to `done`.
* Multi-pass workflows (a second KSampler after an upscale, a VAEEncode after a VAEDecode): the job
  follows what ComfyUI executes, in either direction, between the running stages. A move to an
  earlier stage than the current one starts a new *pass* (`Job.passes` grows by one), so a client
  can tell "sampling again" from "still sampling". Moving to the stage it is already in is not a
  transition and publishes nothing.
* `done`, `failed` and `cancelled` are final.
* `queued` is re-entered only through `requeue`, when ComfyUI lost a prompt it had accepted (it
  restarted, or its queue was cleared) and pixflow sends the job again (see scheduling/placement.py, resend_lost).
* A trigger that does not fit the current state raises transitions.MachineError; the worker logs
  and drops it (see JobMachine.fire), so a stray event never crashes the worker or wedges a job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from transitions import EventData, Machine, MachineError

from pixflow.vocabulary import ACTIVE, STAGES, TERMINAL, JobState

log = logging.getLogger(__name__)

STATES: list[str] = [s.value for s in JobState]


class Trigger(StrEnum):
    """What moves a job to a final state or back to the queue (a move between stages: JobMachine.enter_stage)."""

    REQUEUE = "requeue"  # ComfyUI lost the prompt: pixflow sends it again
    FINISH = "finish"  # its images and sidecar are saved
    FAIL = "fail"  # with `job.error` set first
    CANCEL = "cancel"


def _build_transitions() -> list[dict[str, Any]]:
    active = sorted(s.value for s in ACTIVE)
    transitions: list[dict[str, Any]] = []
    for stage in STAGES:
        sources = [s for s in active if s != stage.value]
        transitions.append({"trigger": f"enter_{stage.value}", "source": sources, "dest": stage.value})
    transitions += [
        {"trigger": Trigger.REQUEUE.value, "source": [s.value for s in STAGES], "dest": JobState.QUEUED.value},
        {"trigger": Trigger.FINISH.value, "source": active, "dest": JobState.DONE.value},
        {"trigger": Trigger.FAIL.value, "source": active, "dest": JobState.FAILED.value},
        {"trigger": Trigger.CANCEL.value, "source": active, "dest": JobState.CANCELLED.value},
    ]
    return transitions


TRANSITIONS: list[dict[str, Any]] = _build_transitions()

StateListener = Callable[[Any, JobState, JobState], None]


class JobMachine:
    """One transitions.Machine serving every live job; jobs are removed when they end.

    Jobs are not added to the Machine as models (`add_model` decorates each one with a method per trigger and
    per state: a tenth of the loop's time when jobs are small and many). A trigger is fired through the
    Machine's event of that name with the job as the model, which runs the same transitions and callbacks."""

    def __init__(self, on_change: StateListener) -> None:
        self._on_change = on_change
        self._live: set[Any] = set()  # the jobs the machine drives (by identity)
        self._machine = Machine(
            model=None,
            states=STATES,
            transitions=TRANSITIONS,
            initial=JobState.QUEUED.value,
            auto_transitions=False,
            send_event=True,
            after_state_change=self._after_change,
            model_attribute="state",
        )

    def add(self, job: Any, state: JobState = JobState.QUEUED) -> None:
        job.state = state.value
        self._live.add(job)

    def remove(self, job: Any) -> None:
        self._live.discard(job)

    def __len__(self) -> int:
        return len(self._live)

    def fire(self, job: Any, trigger: Trigger) -> bool:
        """Fire a trigger on a job; False (and a log line) when it does not fit its state."""
        return self._fire(job, str(trigger))

    def _fire(self, job: Any, trigger: str) -> bool:
        if job not in self._live:
            log.warning("job %s is not in the machine; dropped %r", getattr(job, "job_id", job), trigger)
            return False
        event = self._machine.events.get(trigger)
        try:
            if event is None:
                raise MachineError(f"no trigger {trigger!r}")
            return bool(event.trigger(job))
        except MachineError as e:
            log.warning("job %s: %r does not fit state %s; dropped (%s)", job.job_id, trigger, job.state, e)
            return False

    def enter_stage(self, job: Any, stage: JobState) -> bool:
        if JobState(job.state) == stage:
            return False
        return self._fire(job, f"enter_{stage.value}")

    def _after_change(self, event: EventData) -> None:
        job: Any = event.model
        assert event.transition is not None  # after_state_change runs only for transitions
        source = JobState(str(event.transition.source))
        dest = JobState(str(event.transition.dest))
        if source in STAGES and dest in STAGES and STAGES.index(dest) < STAGES.index(source):
            job.passes += 1
        self._on_change(job, source, dest)
        if dest in TERMINAL:
            self.remove(job)
