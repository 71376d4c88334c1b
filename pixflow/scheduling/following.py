"""Following a prompt through its backend's WebSocket events, to the end of the prompt."""

from __future__ import annotations

import time

from pixflow.comfy import events as ce
from pixflow.errors import FailureCode
from pixflow.jobs.dispatch import Phase
from pixflow.jobs.job import Job
from pixflow.jobs.tracker import JobTracker
from pixflow.scheduling.backends import BackendState
from pixflow.scheduling.context import Shared
from pixflow.scheduling.outputs import OutputSaver


class Follower:
    """Feeds each event to the job it belongs to; decides, from the job's phase, what the end of a prompt means."""

    def __init__(self, shared: Shared, saver: OutputSaver) -> None:
        self._shared = shared
        self._saver = saver
        self.tracker = JobTracker(shared.machine, shared.publisher, self)

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
        if isinstance(event, ce.Executing) and event.node is None and state.running_prompt == event.prompt_id:
            state.running_prompt = None
        if job is None or job.finished or job.phase == Phase.FETCHING:
            return  # ComfyUI is done with a fetching job's prompt: its download decides the rest
        if job.backend is not None and job.backend != state.name:
            return  # a copy on a backend the job has left: one set of outputs per job
        if job.phase == Phase.WAITING:
            # A POST that failed on our side (a timeout) may still have reached ComfyUI: it runs there now.
            self._shared.book.move(job, Phase.SUBMITTED, state.name)
            self._shared.store.save(job)
        elif job.phase == Phase.RECONCILING:
            self._shared.book.move(job, Phase.SUBMITTED)  # its events reach us again
        self.tracker.apply(job, event)
        if isinstance(event, ce.Progress):
            self._shared.store.touch(job)

    # PromptListener: called by the tracker.
    def on_success(self, job: Job) -> None:
        self._shared.book.move(job, Phase.SUCCEEDED)

    def on_prompt_end(self, job: Job) -> None:
        if job.phase == Phase.SUCCEEDED:
            # Outputs seen live spare a GET /history, unless events were missed since the prompt was sent.
            self._saver.fetch(job, job.node_outputs)
        elif job.node_outputs is None and job.phase == Phase.SUBMITTED:
            self._shared.ask_where(job)  # its success may be among the events that were missed
        elif not job.finished:
            self._shared.fail(job, FailureCode.NO_OUTCOME, "ComfyUI ended the prompt without success or error")
