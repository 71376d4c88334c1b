"""Resynchronising after (re)connecting: `status` first (did the worker restart?), then `list_jobs` pages of the
active jobs, then the most recent finished ones, then `status` for each job the monitor believed active that
the worker no longer lists as active (it finished while the monitor was away, or is gone)."""

from __future__ import annotations

from typing import Any

from pixflow.vocabulary import ACTIVE, TERMINAL, JobState
from pixflow_monitor.model import MonitorModel
from pixflow_monitor.request import Request, is_error

# In pipeline order, so that the request is the same every time.
ACTIVE_STATES = [state.value for state in JobState if state in ACTIVE]
FINAL_STATES = [state.value for state in JobState if state in TERMINAL]
PAGE = 500
MAX_ACTIVE_PAGES = 20  # 10,000 active jobs
RECENT_FINISHED = 200


class Resync:
    def __init__(self, model: MonitorModel) -> None:
        self.model = model
        self.generation = 0
        self.active_seen: set[str] = set()
        self.active_pages = 0
        self.done = False

    def begin(self) -> list[Request]:
        self.generation += 1
        self.active_seen = set()
        self.active_pages = 0
        self.done = False
        return [Request("status", purpose="resync.worker", generation=self.generation)]

    def on_reply(self, request: Request, reply: dict[str, Any]) -> list[Request]:
        """Take the answer to one of our requests; return the next requests to send."""
        if request.generation != self.generation or is_error(reply):
            return []
        if request.purpose == "resync.worker":
            self.model.apply_worker_status(reply)
            return [self._active_page(0)]
        if request.purpose == "resync.active":
            jobs = reply.get("jobs") or []
            for snapshot in jobs:
                if self.model.apply_snapshot(snapshot) is not None:
                    self.active_seen.add(snapshot["job_id"])
            offset = (reply.get("offset") or 0) + len(jobs)
            self.active_pages += 1
            if jobs and offset < (reply.get("total") or 0) and self.active_pages < MAX_ACTIVE_PAGES:
                # By key where the worker gives one: a job that arrives meanwhile does not shift the pages.
                return [self._active_page(offset if "next" not in reply else 0, reply.get("next"))]
            return [self._finished()]
        if request.purpose == "resync.finished":
            for snapshot in reply.get("jobs") or []:
                self.model.apply_snapshot(snapshot)
            self.done = True
            return self._stragglers()
        return []

    def _active_page(self, offset: int, before: str | None = None) -> Request:
        fields: dict[str, Any] = {"state": ACTIVE_STATES, "limit": PAGE, "offset": offset}
        if before is not None:
            fields["before"] = before
        return Request("list_jobs", fields, purpose="resync.active", generation=self.generation)

    def _finished(self) -> Request:
        fields = {"state": FINAL_STATES, "limit": RECENT_FINISHED}
        return Request("list_jobs", fields, purpose="resync.finished", generation=self.generation)

    def _stragglers(self) -> list[Request]:
        return [
            Request("status", {"job_id": job.job_id}, purpose="snapshot", job_id=job.job_id)
            for job in list(self.model.jobs.values())
            if not job.finished and job.job_id not in self.active_seen
        ]
