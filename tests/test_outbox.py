"""One loop turn, one transaction: what the turn sends waits for its commit (loop/outbox.py, docs/durability.md)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pixflow.jobs.job import Job
from pixflow.jobs.store import JobStore
from pixflow.loop.outbox import Outbox
from pixflow.workflows import load_workflows
from pixflow.workflows.params import GenerateParams
from tests.helpers import REPO

WORKFLOWS = load_workflows(REPO / "workflows")


def _job(job_id: str) -> Job:
    params = GenerateParams(prompt="knight", seed=1)
    return Job(job_id, params, WORKFLOWS["txt2img"], WORKFLOWS["txt2img"].fill(params), prompt_id=f"p-{job_id}")


def _rows_seen_elsewhere(path: Path) -> list[tuple[str, str]]:
    """What another process reading the file would see: only committed rows."""
    with sqlite3.connect(path) as other:
        return other.execute("SELECT job_id, state FROM jobs ORDER BY position").fetchall()


def test_a_turns_effects_go_out_in_order_only_after_its_writes_are_committed(tmp_path: Path) -> None:
    store, outbox, sent = JobStore(tmp_path / "jobs.db"), Outbox(), []
    try:
        store.begin_turn()
        outbox.hold()
        job = _job("a")
        store.insert(job)
        outbox.send(sent.append, "accepted a")
        job.state = "loading"
        store.save(job)
        outbox.send(sent.append, "job.state a loading")
        assert sent == [] and _rows_seen_elsewhere(tmp_path / "jobs.db") == []
        store.end_turn()
        assert _rows_seen_elsewhere(tmp_path / "jobs.db") == [("a", "loading")]
        outbox.release()
        assert sent == ["accepted a", "job.state a loading"]
    finally:
        store.close()


def test_outside_a_turn_each_write_commits_and_each_effect_goes_at_once(tmp_path: Path) -> None:
    store, outbox, sent = JobStore(tmp_path / "jobs.db"), Outbox(), []
    try:
        store.insert(_job("b"))
        assert _rows_seen_elsewhere(tmp_path / "jobs.db") == [("b", "queued")]
        outbox.send(sent.append, "now")
        assert sent == ["now"] and not outbox.holding
    finally:
        store.close()


def test_what_comes_before_the_turns_first_write_goes_at_once_and_the_order_holds(tmp_path: Path) -> None:
    store, sent = JobStore(tmp_path / "jobs.db"), []
    outbox = Outbox(lambda: store.writing)
    try:
        store.begin_turn()
        outbox.hold()
        outbox.send(sent.append, "progress a")  # no write yet in this turn: nothing to wait for
        assert sent == ["progress a"]
        store.insert(_job("c"))
        outbox.send(sent.append, "accepted c")
        assert sent == ["progress a"]  # after the write: held until the commit
        store.end_turn()
        outbox.release()
        assert sent == ["progress a", "accepted c"]
    finally:
        store.close()
