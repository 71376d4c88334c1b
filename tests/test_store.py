"""The SQLite job store on its own: a job survives a round trip; retention forgets only old finished jobs."""

from __future__ import annotations

from pathlib import Path

from pixflow.jobs.dispatch import Phase
from pixflow.jobs.job import Job
from pixflow.jobs.store import JobStore
from pixflow.workflows import load_workflows
from pixflow.workflows.params import GenerateParams

WORKFLOWS = load_workflows(Path(__file__).resolve().parent.parent / "workflows")


def _job(job_id: str, state: str = "queued", finished_at: int | None = None) -> Job:
    params = GenerateParams(prompt="knight", seed=7, width=64, height=64, steps=8, priority=3)
    workflow = WORKFLOWS["txt2img"]
    job = Job(job_id, params, workflow, workflow.fill(params), prompt_id=f"prompt-{job_id}")
    job.state, job.finished_at = state, finished_at
    return job


def test_a_job_survives_a_round_trip(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    job = _job("a")
    store.insert(job)
    job.state, job.phase, job.attempts, job.backend = "sampling", Phase.SUBMITTED, 1, "local"
    job.progress = {"node": "3", "value": 2, "max": 8}
    store.save(job)
    store.close()
    again = JobStore(tmp_path / "jobs.db")
    [loaded] = again.unfinished(WORKFLOWS)
    assert (loaded.job_id, loaded.state, loaded.prompt_id, loaded.attempts, loaded.backend) == (
        "a",
        "sampling",
        "prompt-a",
        1,
        "local",
    )
    assert loaded.phase == Phase.RECONCILING  # sent before the restart: asked where it is before anything else
    assert loaded.params == job.params and loaded.graph == job.graph and loaded.progress == job.progress
    assert loaded.workflow.class_type("3") == "KSampler"
    again.close()


def test_progress_is_written_in_batches(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    job = _job("b")
    store.insert(job)
    job.progress = {"node": "3", "value": 5, "max": 8}
    store.touch(job)
    assert store.get("b", WORKFLOWS).progress is None  # not yet
    store.flush()
    assert store.get("b", WORKFLOWS).progress == {"node": "3", "value": 5, "max": 8}
    store.close()


def test_retention_forgets_old_finished_jobs_only(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    for job in (_job("old", "done", 1_000), _job("recent", "failed", 5_000), _job("running", "sampling")):
        store.insert(job)
    assert store.delete_finished_before(2_000) == 1
    assert store.get("old", WORKFLOWS) is None
    assert store.get("recent", WORKFLOWS) is not None and store.get("running", WORKFLOWS) is not None
    store.close()


def test_the_wal_is_emptied_between_turns_once_past_its_limit(tmp_path):
    store = JobStore(tmp_path / "jobs.db", wal_limit_bytes=64 * 1024)
    wal = tmp_path / "jobs.db-wal"
    try:
        for i in range(60):  # a steady stream of commits: SQLite alone would never start the WAL over
            job = _job(f"w{i}")
            store.insert(job)
            job.state = "done"
            store.save(job)
        assert wal.stat().st_size > 64 * 1024
        store.trim_wal()
        assert wal.stat().st_size == 0
        store.insert(_job("after"))  # and writing goes on
        assert store.get("after", WORKFLOWS) is not None and store.count_by_state()["done"] == 60
    finally:
        store.close()
