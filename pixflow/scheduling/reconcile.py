"""When to ask ComfyUI where a prompt is: its events may have been missed.

A new WebSocket gets no replay of what it missed, and events of prompts sent with an earlier socket's
client id go nowhere (docs/comfyui.md), so after a reconnect, a stall or a worker restart every prompt on
that backend is looked up in /history and /queue. What each answer does is a row of jobs/life.py (finished:
save or settle it; still queued or running: look again shortly; unknown: ComfyUI lost it, send it again).
"""

from __future__ import annotations

import logging
import time

from pixflow.jobs.dispatch import Phase
from pixflow.jobs.life import Event
from pixflow.scheduling.backends import BackendState
from pixflow.scheduling.context import Shared

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(self, shared: Shared) -> None:
        self._shared = shared

    def on_backend_up(self, state: BackendState, reconnected: bool) -> None:
        life = self._shared.life
        for job in self._shared.holding(state):
            if reconnected or job.phase == Phase.RECONCILING:
                life.fire(job, Event.ASK_WHERE)

    def check_stalls(self) -> None:
        """A backend silent while it has prompts: its events may be going elsewhere; ask where they are."""
        now = time.monotonic()
        timeout = self._shared.settings.stall_timeout
        life = self._shared.life
        for state in self._shared.backends.values():
            if not state.up or not self._shared.book.inflight(state.name) or now - state.last_frame <= timeout:
                continue
            state.last_frame = now
            for job in self._shared.holding(state):
                if job.phase != Phase.RECONCILING:
                    log.warning("job %s: no event from %s for %ss; reconciling", job.job_id, state.backend.url, timeout)
                    life.fire(job, Event.ASK_WHERE)
