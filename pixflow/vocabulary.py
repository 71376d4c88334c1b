"""The shared vocabulary: job states, stages, the terminal set and event topics.

Defined once, at the bottom of the package: the worker, the clients, the command line, the monitor and the
tests import these names rather than spelling them again.
"""

from __future__ import annotations

import time
from enum import StrEnum


class JobState(StrEnum):
    QUEUED = "queued"
    LOADING = "loading"
    ENCODING = "encoding"
    SAMPLING = "sampling"
    DECODING = "decoding"
    SAVING = "saving"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


# The stages a job passes through while ComfyUI executes it, in pipeline order.
STAGES: tuple[JobState, ...] = (
    JobState.LOADING,
    JobState.ENCODING,
    JobState.SAMPLING,
    JobState.DECODING,
    JobState.SAVING,
)
TERMINAL: frozenset[JobState] = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})
ACTIVE: frozenset[JobState] = frozenset({JobState.QUEUED, *STAGES})


# Event topics. A subscriber takes a whole family with the prefix (b"job.state.") or one job's
# events with the full topic (b"job.state.<job_id>").
TOPIC_STATE = "job.state."
TOPIC_PROGRESS = "job.progress."
TOPIC_PREVIEW = "job.preview."
TOPIC_OUTPUT = "job.output."
TOPIC_BACKEND = "backend."
TOPIC_STATS = "worker.stats"
TOPIC_GROUP_DONE = "group.done."  # a `compare` group ended; its contact sheet is written (docs/protocol.md)
JOB_TOPIC_PREFIXES = (TOPIC_STATE, TOPIC_PROGRESS, TOPIC_PREVIEW, TOPIC_OUTPUT)

TERMINAL_STATES: frozenset[str] = frozenset(s.value for s in TERMINAL)
STAGE_NAMES: tuple[str, ...] = tuple(s.value for s in STAGES)


def now_ms() -> int:
    """Timestamps on the wire and in the store: integer milliseconds since the epoch."""
    return time.time_ns() // 1_000_000
