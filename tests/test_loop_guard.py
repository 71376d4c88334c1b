"""A bug while handling one job's event fails that job with `internal`; the worker keeps serving.

(Timers about a job are guarded the same way: tests/test_dispatch_phases.py.)
"""

from __future__ import annotations

from pixflow.comfy import events as ce
from pixflow.jobs.job import Job
from pixflow.testing import ThreadWorker
from tests.helpers import run_job, states_of


def _break_progress_for(worker: ThreadWorker, job_id: str) -> None:
    """Make the handling of `progress` events raise for one job: a stand-in for a bug in event handling."""
    life = worker.worker.scheduler.life
    original = life._progress

    def progress(job: Job, event: ce.ComfyEvent | None) -> None:
        if job.job_id == job_id:
            raise ValueError("a bug in progress handling")
        original(job, event)

    life._progress = progress  # type: ignore[method-assign]


def test_a_bug_in_one_jobs_event_fails_that_job_and_the_next_job_completes(worker: ThreadWorker) -> None:
    # Set up before any job exists: the worker loop reads the handlers, the test thread only writes them once.
    _break_progress_for(worker, "broken")
    client = worker.client()
    events = run_job(client, "broken")
    assert states_of(events)[-1] == "failed"
    failure = events[-1][1]["error"]
    assert failure["code"] == "internal"
    assert "ValueError: a bug in progress handling" in failure["message"] and "Progress" in failure["message"]
    assert client.status("broken")["error"]["code"] == "internal"

    events = run_job(client, "fine")
    assert states_of(events)[-1] == "done"
    assert client.call("ping")["type"] == "pong"
