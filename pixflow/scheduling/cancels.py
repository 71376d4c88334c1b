"""Cancelling a job: at once when no backend has it, else remove or interrupt its prompt in ComfyUI."""

from __future__ import annotations

import logging

from pixflow.comfy.messages import CancelChecked
from pixflow.jobs.dispatch import Phase, cancels_at_once, too_late_to_cancel
from pixflow.jobs.job import Job
from pixflow.jobs.machine import Trigger
from pixflow.scheduling.context import Shared

log = logging.getLogger(__name__)


class Canceller:
    def __init__(self, shared: Shared) -> None:
        self._shared = shared

    def cancel(self, job: Job) -> None:
        job.cancel_requested = True
        if cancels_at_once(job.phase):
            self._shared.machine.fire(job, Trigger.CANCEL)
            return
        self._shared.store.save(job)
        if too_late_to_cancel(job.phase):
            return  # ComfyUI produced the images: they are being saved and the job ends `done`
        state = self._shared.backend_of(job)
        if not state.up:
            # Nothing can confirm it now: it ends here, and its copy is removed when the backend is back.
            state.discard.add(job.prompt_id)
            self._shared.machine.fire(job, Trigger.CANCEL)
            return
        state.backend.cancel(job.job_id, job.prompt_id)
        self._shared.after(self._shared.settings.cancel_timeout, job, "cancel escalation", lambda: self._escalate(job))

    def _escalate(self, job: Job) -> None:
        """No confirmation in time: interrupt whatever runs on that backend if it is still our prompt."""
        if job.finished or job.phase not in (Phase.SUBMITTED, Phase.WITHDRAWING, Phase.RECONCILING):
            return
        state = self._shared.backend_of(job)
        timeout = self._shared.settings.cancel_timeout
        if state.running_prompt == job.prompt_id:
            # Ours runs there now, as its events say: a plain interrupt also reaches a ComfyUI that ignores ids.
            log.warning(
                "job %s: no confirmation of the cancel after %ss; interrupting %s", job.job_id, timeout, state.name
            )
            state.backend.interrupt_all()
        elif job.phase == Phase.RECONCILING:
            # Where it is is unknown: remove or interrupt it by its id only, never another job's prompt.
            state.backend.discard(job.prompt_id)

    def on_result(self, job: Job, result: CancelChecked) -> None:
        # Gone from ComfyUI's queue before it started: nothing will report on it, so it ends here.
        # A prompt that started ends through its own events (interrupted), which the tracker turns into `cancelled`.
        if not result.in_comfy_queue and job.started_at is None and job.phase in (Phase.SUBMITTED, Phase.WITHDRAWING):
            self._shared.machine.fire(job, Trigger.CANCEL)
