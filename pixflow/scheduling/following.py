"""Following a prompt through its backend's WebSocket events: which job an event belongs to, and what it is to the
job's life (jobs/life.py). The backend's own figures (queue length, the prompt it runs) are kept here."""

from __future__ import annotations

import time

from pixflow.comfy import events as ce
from pixflow.jobs.job import Job
from pixflow.jobs.life import Event
from pixflow.scheduling.backends import BackendState
from pixflow.scheduling.context import Shared
from pixflow.scheduling.life_shell import Given

# What each ComfyUI event is to a job (`executing` is a stage, or the prompt's end when it names no node).
EVENTS: dict[type[ce.ComfyEvent], Event] = {
    ce.ExecutionStart: Event.STARTED,
    ce.Executing: Event.STAGE,
    ce.Progress: Event.PROGRESS,
    ce.Executed: Event.OUTPUT,
    ce.Preview: Event.PREVIEW,
    ce.ExecutionSuccess: Event.SUCCEEDED,
    ce.ExecutionError: Event.ERRORED,
    ce.ExecutionInterrupted: Event.INTERRUPTED,
}


class Follower:
    def __init__(self, shared: Shared) -> None:
        self._shared = shared

    def job_of(self, state: BackendState, event: ce.ComfyEvent) -> Job | None:
        # Type-1 previews and some progress messages name no prompt: they belong to the running one.
        return self._shared.registry.by_prompt(event.prompt_id or state.running_prompt)

    def on_event(self, state: BackendState, event: ce.ComfyEvent) -> None:
        state.last_frame = time.monotonic()
        if isinstance(event, ce.Status):
            state.queue_remaining = event.queue_remaining
            return
        if isinstance(event, ce.ExecutionStart):
            state.running_prompt = event.prompt_id
        job = self.job_of(state, event)
        ended = isinstance(event, ce.Executing) and event.node is None
        if ended and state.running_prompt == event.prompt_id:
            state.running_prompt = None
        if job is None or (job.backend is not None and job.backend != state.name):
            return  # not ours, or a copy on a backend the job has left: one set of outputs per job
        life = self._shared.life
        life.handle(job, Event.SEEN, Given(on=state))
        name = Event.PROMPT_ENDED if ended else EVENTS.get(type(event))
        if name is not None:  # None: cached nodes, and messages of custom nodes: nothing more for the job
            life.handle(job, name, Given(comfy=event))
