"""The job store: SQLite in WAL mode, owned by the worker loop's thread.

What is durable when (docs/durability.md): a job is committed before its `accepted` reply; every state
change, every dispatch and every attempt is committed before anything acts on it. Progress and the
event counter are written in batches (at most `flush_interval` late): a crash loses only those.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pixflow.jobs.job import Job
from pixflow.jobs.rows import (
    ACTIVE_VALUES,
    MUTABLE,
    SCHEMA,
    SCHEMA_VERSION,
    TERMINAL_VALUES,
    job_from_row,
    mutable_values,
)
from pixflow.vocabulary import TERMINAL_STATES
from pixflow.workflows import Workflow

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL = 1.0  # seconds between WAL checkpoints on the checkpointer's own connection
WAL_LIMIT_BYTES = 64 * 1024 * 1024  # past this, the loop empties the WAL file between two turns (trim_wal)


class JobStore:
    def __init__(self, path: Path, synchronous: str = "NORMAL", wal_limit_bytes: int = WAL_LIMIT_BYTES) -> None:
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        # Checkpoints sync the disk: they run on a thread of their own (its own connection), never inside a
        # request on the worker's loop.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._stop = threading.Event()
        self._wal = None if str(path) == ":memory:" else Path(f"{path}-wal")
        self._wal_limit = wal_limit_bytes
        self._next_wal_check = 0.0
        self._checkpointer: threading.Thread | None = None
        if str(path) != ":memory:":
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, args=(path,), name="checkpointer", daemon=True
            )
            self._checkpointer.start()
        self._db.executescript(SCHEMA)
        self._migrate()
        self._dirty: dict[str, Job] = {}
        self._turn = False  # inside a turn of the worker loop: writes join one transaction, committed at its end
        row = self._db.execute("SELECT COALESCE(MAX(position), 0) FROM jobs").fetchone()
        self._next_position = row[0] + 1
        # Jobs per state, kept as rows change (`status` must not count a long history on every call), and the
        # stored state of every unfinished row this store wrote or loaded (a finished row never changes state).
        self._counts: dict[str, int] = dict(self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"))
        self._stored_state: dict[str, str] = {}

    def _migrate(self) -> None:
        """Bring a database of an older schema up to SCHEMA_VERSION (CREATE TABLE IF NOT EXISTS keeps old tables)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        if "group_id" not in columns:  # schema 1
            self._db.execute("ALTER TABLE jobs ADD COLUMN group_id TEXT")
        self._db.execute("CREATE INDEX IF NOT EXISTS jobs_by_group ON jobs (group_id, position)")
        if "owner" not in columns:  # schema 2 and before: the submitting key's name, NULL for older jobs
            self._db.execute("ALTER TABLE jobs ADD COLUMN owner TEXT")
        self._db.execute("CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, state)")
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self.flush()
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(5)
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

    def trim_wal(self) -> None:
        """Between two turns of the loop: keep the WAL file under its limit.

        The checkpointer copies the WAL into the database every second, but SQLite only starts the WAL over when a
        write begins after a checkpoint that caught up with every frame, which a steady stream of commits never lets
        happen: the file grew by tens of kilobytes a job, without end. Here, with no write of ours in flight, a
        TRUNCATE checkpoint copies the little the checkpointer has not yet (a second's worth) and empties the file.
        """
        now = time.monotonic()
        if self._wal is None or now < self._next_wal_check:
            return
        self._next_wal_check = now + CHECKPOINT_INTERVAL
        try:
            if self._wal.stat().st_size <= self._wal_limit:
                return
            busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except (OSError, sqlite3.Error) as e:
            log.debug("WAL not trimmed now: %s", e)
            return
        if busy:  # the checkpointer is at it: the next turn will do
            log.debug("WAL not trimmed now: a checkpoint is running")

    def _checkpoint_loop(self, path: Path) -> None:
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(CHECKPOINT_INTERVAL):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as e:  # busy or locked now: the next round will do
                    log.debug("checkpoint skipped: %s", e)
        finally:
            db.close()

    # Transactions. Inside a turn of the worker loop every write joins the turn's transaction, committed at its
    # end before anything the turn did reaches the outside (pixflow/loop/outbox.py); outside one, each write method
    # is a transaction of its own.
    def begin_turn(self) -> None:
        self._turn = True  # the transaction itself begins with the turn's first write: a read-only turn has none

    def end_turn(self) -> None:
        self._turn = False
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    @property
    def writing(self) -> bool:
        """A transaction holds writes not yet committed."""
        return self._db.in_transaction

    def _join_turn(self) -> None:
        if self._turn and not self._db.in_transaction:
            self._db.execute("BEGIN")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._join_turn()
        if self._db.in_transaction:
            yield  # a turn's, or the caller's: committed with it
            return
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # Writes: each method is one transaction, or part of the turn's.
    def insert(self, job: Job) -> None:
        values = mutable_values(job)
        values.update(
            job_id=job.job_id,
            position=self._next_position,
            priority=job.params.priority,
            params=json.dumps(job.params.to_wire()),
            workflow=job.workflow.name,
            graph=json.dumps(job.graph),
            prompt_id=job.prompt_id,
            created_at=job.created_at,
            group_id=job.group_id,
            owner=job.params.owner,
        )
        columns = ", ".join(values)
        self._join_turn()
        self._db.execute(
            f"INSERT INTO jobs ({columns}) VALUES ({', '.join('?' * len(values))})", tuple(values.values())
        )
        job.position = self._next_position
        self._next_position += 1
        self._count(None, job.state)
        if job.state not in TERMINAL_STATES:
            self._stored_state[job.job_id] = job.state

    def save(self, job: Job) -> None:
        """Commit the job's state now (state changes, dispatch, attempts)."""
        self._dirty.pop(job.job_id, None)
        self._update([job])

    def touch(self, job: Job) -> None:
        """Remember to write the job at the next flush (progress, event counter)."""
        self._dirty[job.job_id] = job

    def flush(self) -> None:
        if self._dirty:
            jobs, self._dirty = list(self._dirty.values()), {}
            self._update(jobs)

    def _update(self, jobs: Iterable[Job]) -> None:
        assignments = ", ".join(f"{column} = :{column}" for column in MUTABLE)
        rows = [{**mutable_values(job), "job_id": job.job_id} for job in jobs]
        moves = [(self._previous_state(row["job_id"]), row["state"]) for row in rows]
        with self._transaction():  # one transaction for the batch
            self._db.executemany(f"UPDATE jobs SET {assignments} WHERE job_id = :job_id", rows)
        for row, (before, after) in zip(rows, moves, strict=True):
            if before != after:
                self._count(before, after)
            if after in TERMINAL_STATES:
                self._stored_state.pop(row["job_id"], None)
            else:
                self._stored_state[row["job_id"]] = after

    def _previous_state(self, job_id: str) -> str | None:
        known = self._stored_state.get(job_id)
        if known is not None:
            return known
        row = self._db.execute("SELECT state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return row[0] if row else None

    def _count(self, before: str | None, after: str | None) -> None:
        if before is not None:
            self._counts[before] = self._counts.get(before, 0) - 1
        if after is not None:
            self._counts[after] = self._counts.get(after, 0) + 1

    def write(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """One statement of another table kept with the jobs (jobs/deliveries.py), in the turn's transaction."""
        with self._transaction():
            return self._db.execute(sql, args).rowcount

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self._db.execute(sql, args).fetchall()

    def set_meta(self, key: str, value: str) -> None:
        self._join_turn()
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def eta_load(self) -> dict[str, float]:
        return dict(self._db.execute("SELECT key, seconds FROM eta_stats").fetchall())

    def eta_save(self, entries: dict[str, float]) -> None:
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO eta_stats VALUES (?, ?)", entries.items())

    def delete_finished_before(self, cutoff_ms: int) -> int:
        removed = 0
        # One state at a time, so the cached counts know what went; `+state` keeps SQLite on the finished_at
        # index (the state index would walk every finished job of a long history, seconds on the loop).
        self._join_turn()
        for state in TERMINAL_VALUES:
            cursor = self._db.execute("DELETE FROM jobs WHERE finished_at < ? AND +state = ?", (cutoff_ms, state))
            self._counts[state] = self._counts.get(state, 0) - cursor.rowcount
            removed += cursor.rowcount
        return removed

    # Reads.
    def unfinished(self, workflows: dict[str, Workflow]) -> list[Job]:
        # `state IN` the unfinished states, not `NOT IN` the finished ones: an index search, not a scan of the
        # whole history.
        placeholders = ", ".join("?" * len(ACTIVE_VALUES))
        rows = self._db.execute(
            f"SELECT * FROM jobs WHERE state IN ({placeholders}) ORDER BY position", ACTIVE_VALUES
        ).fetchall()
        jobs = [job_from_row(row, workflows) for row in rows]
        self._stored_state.update((job.job_id, job.state) for job in jobs)
        return jobs

    def recent_finished(self, workflows: dict[str, Workflow], limit: int) -> list[Job]:
        placeholders = ", ".join("?" * len(TERMINAL_VALUES))
        # `+state`: walk the arrival order from the newest and stop after `limit`, instead of sorting the whole
        # finished history by position (seconds at start with a million jobs).
        rows = self._db.execute(
            f"SELECT * FROM jobs WHERE +state IN ({placeholders}) ORDER BY position DESC LIMIT ?",
            (*TERMINAL_VALUES, limit),
        ).fetchall()
        return [job_from_row(row, workflows) for row in reversed(rows)]

    def get(self, job_id: str, workflows: dict[str, Workflow]) -> Job | None:
        row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return job_from_row(row, workflows) if row else None

    def page(
        self,
        states: list[str] | None,
        limit: int,
        offset: int,
        group_id: str | None = None,
        before: int | None = None,
    ) -> tuple[list[str], int]:
        """Job ids newest first, with the total matching the filter; `before`: only jobs that arrived before the job
        at that position (a keyset: a deep page costs what the first does, where an offset walks every row before)."""
        self.flush()
        conditions, args = [], tuple[Any, ...]()
        if states:
            # One state: its index is already in arrival order. Several: a common set is found faster walking
            # the arrival order (`+state`) than by sorting all its rows; a rare one through the state index.
            matching = sum(self._counts.get(state, 0) for state in states)
            walk = len(states) > 1 and group_id is None and matching * 20 >= sum(self._counts.values())
            column = "+state" if walk else "state"
            conditions, args = [f"{column} IN ({', '.join('?' * len(states))})"], tuple(states)
        if group_id is not None:
            conditions, args = [*conditions, "group_id = ?"], (*args, group_id)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        if group_id is None:  # from the cached counts: no count of a long history per page
            total = sum(n for state, n in self._counts.items() if not states or state in states)
        else:
            total = self._db.execute(f"SELECT COUNT(*) FROM jobs {where}", args).fetchone()[0]
        if before is not None:
            conditions, args = [*conditions, "position < ?"], (*args, before)
            where = f"WHERE {' AND '.join(conditions)}"
        rows = self._db.execute(
            f"SELECT job_id FROM jobs {where} ORDER BY position DESC LIMIT ? OFFSET ?", (*args, limit, offset)
        )
        return [row[0] for row in rows], total

    def position_of(self, job_id: str) -> int | None:
        row = self._db.execute("SELECT position FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return row[0] if row else None

    def group_job_ids(self, group_id: str) -> list[str]:
        """A group's jobs in the order they were created."""
        rows = self._db.execute("SELECT job_id FROM jobs WHERE group_id = ? ORDER BY position", (group_id,))
        return [row[0] for row in rows]

    def count_queued(self, owner: str) -> int:
        """Jobs of one key still `queued` (max_queued_per_owner)."""
        row = self._db.execute("SELECT COUNT(*) FROM jobs WHERE owner = ? AND state = 'queued'", (owner,)).fetchone()
        return int(row[0])

    def count_by_state(self) -> dict[str, int]:
        """Jobs per state in the store (cached: kept up to date by this store's writes)."""
        return {state: n for state, n in self._counts.items() if n}
