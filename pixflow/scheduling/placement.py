"""Handing waiting jobs to backends with free slots, and taking them back when a backend could not keep them."""

from __future__ import annotations

import functools
import logging
import time

from pixflow.comfy.messages import SubmitFailed, SubmitRejected, Submitted
from pixflow.jobs.dispatch import DispatchError, Phase, may_send_again
from pixflow.jobs.job import Job
from pixflow.scheduling.backends import BackendState
from pixflow.scheduling.context import Shared
from pixflow.scheduling.sidecar import rejection_message
from pixflow.vocabulary import JobState

log = logging.getLogger(__name__)


class Placement:
    def __init__(self, shared: Shared) -> None:
        self._shared = shared

    def dispatch(self) -> None:
        shared = self._shared
        now = time.monotonic()
        for state in shared.backends.values():
            if not state.accepts_prompts(now):
                continue
            while shared.book.inflight(state.name) < shared.settings.max_inflight:
                job = shared.registry.pop_next()
                if job is None:
                    return
                shared.guard(job, "dispatch", functools.partial(self._submit, state, job))

    def _submit(self, state: BackendState, job: Job) -> None:
        assert state.client_id is not None  # accepts_prompts() said so
        self._shared.book.move(job, Phase.SUBMITTED, state.name)
        job.attempts += 1
        self._shared.store.save(job)  # durable before the POST: after a crash, the job is reconciled, not re-sent
        state.backend.submit(job.job_id, job.prompt_id, job.graph, state.client_id)

    def on_result(self, job: Job, result: Submitted | SubmitRejected | SubmitFailed) -> None:
        match result:
            case Submitted():
                log.debug("job %s submitted as prompt %s", job.job_id, job.prompt_id)
            case SubmitRejected():
                error, node_errors = result.rejection.error, result.rejection.node_errors
                message = rejection_message(error, node_errors)
                self._shared.fail(job, "validation_error", message, comfy_error=error, node_errors=node_errors)
            case SubmitFailed():
                if job.started_at is not None or not may_send_again(job.phase):
                    return  # its events arrived meanwhile: ComfyUI has the prompt after all
                state = self._shared.backend_of(job)
                self.take_back(job)
                if job.cancel_requested:
                    self._shared.machine.fire(job, "cancel")
                    return
                log.warning("job %s waits: %s", job.job_id, result.reason)
                state.rest()

    def resend_lost(self, job: Job) -> None:
        """ComfyUI does not know the job's prompt (it restarted or its queue was cleared)."""
        url = self._shared.backend_of(job).backend.url
        if job.cancel_requested:
            self._shared.machine.fire(job, "cancel")
        elif job.attempts >= self._shared.settings.max_attempts:
            message = (
                f"ComfyUI at {url} lost the prompt {job.attempts} times "
                "(it restarted or its queue was cleared); giving up"
            )
            self._shared.fail(job, "lost", message)
        else:
            log.warning(
                "job %s: ComfyUI at %s does not know prompt %s; sending it again (attempt %d)",
                job.job_id,
                url,
                job.prompt_id,
                job.attempts + 1,
            )
            self.take_back(job)

    def take_back(self, job: Job) -> None:
        """Back to pixflow's queue, ahead of later jobs of its priority, to be sent again (to any backend)."""
        if not may_send_again(job.phase):
            raise DispatchError(f"job {job.job_id} cannot be sent again from phase {job.phase}")
        self._shared.book.move(job, Phase.WAITING)
        job.started_at, job.progress = None, None
        if job.job_state != JobState.QUEUED:
            self._shared.machine.fire(job, "requeue")  # saves
        else:
            self._shared.store.save(job)
        self._shared.registry.requeue(job)
