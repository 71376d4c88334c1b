"""Asking ComfyUI where a prompt is when its events may have been missed, and acting on the answer.

A new WebSocket gets no replay of what it missed, and events of prompts sent with an earlier socket's
client id go nowhere (docs/comfyui.md), so after a reconnect, a stall or a worker restart every prompt on
that backend is looked up in /history and /queue: finished (save or settle it), still queued or running
(look again shortly), or unknown (ComfyUI lost it: send it again).
"""

from __future__ import annotations

import functools
import logging
import time

from pixflow.comfy.history import outcome_of
from pixflow.comfy.messages import PromptFinished, PromptUnknown, PromptWaiting, ReconcileFailed
from pixflow.errors import FailureCode
from pixflow.jobs.dispatch import Phase
from pixflow.jobs.job import Job
from pixflow.scheduling.backends import BackendState
from pixflow.scheduling.context import Shared
from pixflow.scheduling.following import Follower
from pixflow.scheduling.outputs import OutputSaver
from pixflow.scheduling.placement import Placement

log = logging.getLogger(__name__)

ReconcileResult = PromptFinished | PromptWaiting | PromptUnknown | ReconcileFailed


class Reconciler:
    def __init__(self, shared: Shared, follower: Follower, saver: OutputSaver, placement: Placement) -> None:
        self._shared = shared
        self._follower = follower
        self._saver = saver
        self._placement = placement

    def on_backend_up(self, state: BackendState, reconnected: bool) -> None:
        for job in self._shared.holding(state):
            if reconnected or job.phase == Phase.RECONCILING:
                self._shared.guard(job, "reconcile", functools.partial(self._shared.ask_where, job))

    def check_stalls(self) -> None:
        """A backend silent while it has prompts: its events may be going elsewhere; ask where they are."""
        now = time.monotonic()
        timeout = self._shared.settings.stall_timeout
        for state in self._shared.backends.values():
            if not state.up or not self._shared.book.inflight(state.name) or now - state.last_frame <= timeout:
                continue
            state.last_frame = now
            for job in self._shared.holding(state):
                if job.phase != Phase.RECONCILING:
                    log.warning("job %s: no event from %s for %ss; reconciling", job.job_id, state.backend.url, timeout)
                    self._shared.guard(job, "reconcile", functools.partial(self._shared.ask_where, job))

    def on_result(self, job: Job, result: ReconcileResult) -> None:
        if job.phase != Phase.RECONCILING:
            return  # its events reached us meanwhile: they are the better news
        match result:
            case PromptFinished():
                self._finish_from_history(job, result)
            case PromptWaiting():
                # Its events go to a socket we no longer have: watch it through the HTTP API.
                self._look_again(job)
            case PromptUnknown():
                self._placement.resend_lost(job)
            case ReconcileFailed():
                log.warning("job %s: cannot reconcile yet: %s", job.job_id, result.reason)
                self._look_again(job)

    def _look_again(self, job: Job) -> None:
        def again() -> None:
            if not job.finished and job.phase == Phase.RECONCILING:
                self._shared.ask_where(job)

        self._shared.after(self._shared.settings.reconcile_interval, job, "reconcile", again)

    def _finish_from_history(self, job: Job, result: PromptFinished) -> None:
        outcome = outcome_of(result.entry)
        if outcome.succeeded:
            # The history entry is the whole truth: outputs seen live before the drop may be partial.
            self._saver.fetch(job, result.entry.get("outputs") or None)
        elif outcome.error is not None:
            self._follower.tracker.apply(job, outcome.error)
        elif outcome.interrupted is not None:
            self._follower.tracker.apply(job, outcome.interrupted)
        else:
            self._shared.fail(job, FailureCode.NO_OUTCOME, "ComfyUI ended the prompt without success or error")
