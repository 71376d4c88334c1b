"""The jobs table: its schema, and how a Job maps to a row and back (the store, pixflow/jobs/store.py, runs the
queries)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from pixflow.jobs.dispatch import Phase
from pixflow.jobs.job import Job
from pixflow.vocabulary import ACTIVE, TERMINAL, TERMINAL_STATES
from pixflow.workflows import Workflow
from pixflow.workflows.params import GenerateParams

# 2: jobs.group_id (compare groups); 3: jobs.owner (client keys); added by _migrate. 4: webhook_deliveries (created
# by SCHEMA itself: CREATE TABLE IF NOT EXISTS adds it to an older database).
SCHEMA_VERSION = 4
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL UNIQUE,   -- arrival order
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    params TEXT NOT NULL,               -- JSON: the validated generate fields
    workflow TEXT NOT NULL,
    graph TEXT NOT NULL,                -- JSON: the filled API-format graph
    prompt_id TEXT NOT NULL UNIQUE,     -- chosen by pixflow, so a crash leaves it decidable
    backend TEXT,
    submitted INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL,
    passes INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    progress TEXT,
    outputs TEXT NOT NULL,
    error TEXT,
    state_times TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    group_id TEXT,                      -- the compare group, or NULL
    owner TEXT                          -- the client key that submitted it, or NULL (no CURVE)
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, position);
CREATE INDEX IF NOT EXISTS jobs_by_finish ON jobs (finished_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS eta_stats (key TEXT PRIMARY KEY, seconds REAL NOT NULL);  -- see progress.EtaBook
CREATE TABLE IF NOT EXISTS webhook_deliveries (  -- jobs/deliveries.py, pixflow/webhooks/
    id TEXT PRIMARY KEY,                -- the webhook-id header: the same on every attempt
    job_id TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,                 -- the JSON payload, as signed and sent
    event TEXT NOT NULL,                -- the state the job moved to
    attempts INTEGER NOT NULL,
    next_at INTEGER NOT NULL,           -- ms: when the next attempt is due
    state TEXT NOT NULL,                -- pending, delivered, given_up
    last_status INTEGER,                -- the last attempt's HTTP status (NULL: no answer)
    last_error TEXT,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_state ON webhook_deliveries (state, created_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_job ON webhook_deliveries (job_id);
"""
MUTABLE = (
    "state",
    "prompt_id",  # a new one when the job moves off a backend that may still hold a copy (docs/pool.md)
    "backend",
    "submitted",
    "attempts",
    "cancel_requested",
    "passes",
    "seq",
    "progress",
    "outputs",
    "error",
    "state_times",
    "started_at",
    "finished_at",
)
TERMINAL_VALUES = tuple(state.value for state in TERMINAL)
ACTIVE_VALUES = tuple(state.value for state in ACTIVE)


def mutable_values(job: Job) -> dict[str, Any]:
    """The columns that change during a job's life, as stored."""
    return {
        "state": job.state,
        "prompt_id": job.prompt_id,
        "backend": job.backend,
        "submitted": int(job.submitted),
        "attempts": job.attempts,
        "cancel_requested": int(job.cancel_requested),
        "passes": job.passes,
        "seq": job.seq,
        "progress": json.dumps(job.progress) if job.progress is not None else None,
        "outputs": json.dumps(job.outputs),
        "error": json.dumps(job.error) if job.error is not None else None,
        "state_times": json.dumps(job.state_times),
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def job_from_row(row: sqlite3.Row, workflows: dict[str, Workflow]) -> Job:
    """The Job a row stands for, as the worker left it."""
    graph = json.loads(row["graph"])
    # The job keeps the graph it was sent with, even if the workflow file changed or is gone since.
    known = workflows.get(row["workflow"])
    workflow = Workflow(row["workflow"], known.description if known else "", graph, {}, known.stages if known else {})
    job = Job(
        row["job_id"],
        GenerateParams.from_wire(json.loads(row["params"])),
        workflow,
        graph,
        prompt_id=row["prompt_id"],
        created_at=row["created_at"],
    )
    job.position = row["position"]
    job.state = row["state"]
    job.backend = row["backend"]
    # A job that was handed to a backend is asked about (reconciled) before anything else happens to it.
    if row["state"] in TERMINAL_STATES:
        job.phase = Phase.ENDED
    elif row["submitted"] and row["backend"] is not None:
        job.phase = Phase.RECONCILING
    job.attempts = row["attempts"]
    job.cancel_requested = bool(row["cancel_requested"])
    job.passes = row["passes"]
    job.seq = row["seq"]
    job.progress = json.loads(row["progress"]) if row["progress"] else None
    job.outputs = json.loads(row["outputs"])
    job.error = json.loads(row["error"]) if row["error"] else None
    job.state_times = json.loads(row["state_times"])
    job.started_at = row["started_at"]
    job.finished_at = row["finished_at"]
    job.group_id = row["group_id"]
    return job
