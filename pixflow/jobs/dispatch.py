"""Where a job is in dispatch: its phase, the moves allowed between phases, and who holds which backend slot.

The protocol's job states (vocabulary.JobState: queued, loading, ..., done) say what ComfyUI is doing with a
job and are what clients see. The *phase* says where the job is between pixflow and its backend, which the
states cannot tell: a `queued` job may be waiting in pixflow's queue, or sent and waiting in ComfyUI's own
queue, or sent to a backend whose WebSocket dropped so that pixflow must ask ComfyUI where it is.

    WAITING ──► SUBMITTED ──► SUCCEEDED ──► FETCHING ──► ENDED
       ▲          │   ▲            │
       │          ▼   │            ▼
       ├──────── RECONCILING ◄─────┘
       └──────── WITHDRAWING ◄── SUBMITTED
    (every phase may end; MOVES below is the whole table)

* WAITING: in pixflow's queue, on no backend. The only phase a job is sent from.
* SUBMITTED: handed to a backend (durably recorded before the POST); its events are followed live.
* RECONCILING: on a backend whose events may have been missed (reconnect, stall, worker restart): pixflow
  asks ComfyUI's /history and /queue where the prompt is. Outputs seen live are no longer trusted.
* WITHDRAWING: waiting in a backend's own queue, being taken out of it (delete, then confirmed through /queue
  and /history) to run on a backend that can start it sooner; back to SUBMITTED if it had already started.
* SUCCEEDED: ComfyUI reported `execution_success`; the end of the prompt is due.
* FETCHING: ComfyUI is done with the prompt; the outputs are being downloaded and saved. The backend's slot
  is free again.
* ENDED: the job reached a final state (done, failed, cancelled).

`DispatchBook.move` is the only writer of `Job.phase`, `Job.backend` and the backend slots, so "may this job
be sent, cancelled at once, sent again or moved to another backend" is answered here and nowhere else.
A move the table does not allow is a bug: it raises `DispatchError`, which the worker loop turns into an
`internal` failure of that job (see scheduling/scheduler.py).
"""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum
from typing import Protocol

from pixflow.errors import PixflowError


class Phase(StrEnum):
    WAITING = "waiting"
    SUBMITTED = "submitted"
    WITHDRAWING = "withdrawing"
    RECONCILING = "reconciling"
    SUCCEEDED = "succeeded"
    FETCHING = "fetching"
    ENDED = "ended"


MOVES: dict[Phase, frozenset[Phase]] = {
    Phase.WAITING: frozenset({Phase.SUBMITTED, Phase.ENDED}),
    Phase.SUBMITTED: frozenset({Phase.RECONCILING, Phase.SUCCEEDED, Phase.WITHDRAWING, Phase.WAITING, Phase.ENDED}),
    Phase.WITHDRAWING: frozenset({Phase.SUBMITTED, Phase.RECONCILING, Phase.SUCCEEDED, Phase.WAITING, Phase.ENDED}),
    Phase.RECONCILING: frozenset({Phase.SUBMITTED, Phase.SUCCEEDED, Phase.FETCHING, Phase.WAITING, Phase.ENDED}),
    Phase.SUCCEEDED: frozenset({Phase.FETCHING, Phase.RECONCILING, Phase.ENDED}),
    Phase.FETCHING: frozenset({Phase.ENDED}),
    Phase.ENDED: frozenset(),
}

# Phases in which the job's prompt is on its backend and takes one of its `max_inflight` slots.
ON_BACKEND: frozenset[Phase] = frozenset({Phase.SUBMITTED, Phase.WITHDRAWING, Phase.RECONCILING, Phase.SUCCEEDED})


def may_send(phase: Phase) -> bool:
    """Only a job in pixflow's own queue is handed to a backend (and so may go to any backend)."""
    return phase == Phase.WAITING


def cancels_at_once(phase: Phase) -> bool:
    """A job no backend has can be cancelled on the spot; one on a backend must be removed from ComfyUI first."""
    return phase == Phase.WAITING


def may_send_again(phase: Phase) -> bool:
    """A prompt ComfyUI lost, withdrew, or that is on a backend gone for good is taken back to be sent again."""
    return phase in (Phase.SUBMITTED, Phase.WITHDRAWING, Phase.RECONCILING)


def may_withdraw(phase: Phase) -> bool:
    """Only a prompt followed live (not being reconciled) is asked out of a backend's queue to move elsewhere."""
    return phase == Phase.SUBMITTED


def too_late_to_cancel(phase: Phase) -> bool:
    """ComfyUI has produced the images: the job ends `done` whatever the cancel says."""
    return phase in (Phase.SUCCEEDED, Phase.FETCHING)


class DispatchError(PixflowError):
    """A phase move the table does not allow: a bug in the worker, never the client's doing."""


class Dispatched(Protocol):
    job_id: str
    phase: Phase
    backend: str | None
    node_outputs: dict[str, object] | None


class DispatchBook:
    """The one owner of every job's phase and of the jobs that hold each backend's slots."""

    def __init__(self) -> None:
        self._slots: defaultdict[str, dict[str, None]] = defaultdict(dict)  # backend -> job ids, in order sent
        self._holder: dict[str, str] = {}  # job id -> the backend whose slot it holds

    def move(self, job: Dispatched, phase: Phase, backend: str | None = None) -> None:
        if phase == job.phase:
            return
        if phase not in MOVES[job.phase]:
            raise DispatchError(f"job {job.job_id}: no move from {job.phase} to {phase}")
        sending = job.phase == Phase.WAITING and phase == Phase.SUBMITTED
        if sending and backend is None:
            raise DispatchError(f"job {job.job_id}: sent to no backend")
        if phase not in ON_BACKEND:
            self._free(job.job_id)
        if sending and backend is not None:
            job.backend = backend
            job.node_outputs = {}  # collected from `executed` events while they are followed live
            self._hold(job.job_id, backend)
        elif phase == Phase.WAITING:
            job.backend = None
        elif phase == Phase.RECONCILING:
            job.node_outputs = None  # events may have been missed: the outputs come from /history
        job.phase = phase

    def adopt(self, job: Dispatched) -> None:
        """Take in a job loaded from the store (see scheduling/scheduler.py recover)."""
        if job.phase in ON_BACKEND and job.backend is not None:
            self._hold(job.job_id, job.backend)

    def _hold(self, job_id: str, backend: str) -> None:
        self._slots[backend][job_id] = None
        self._holder[job_id] = backend

    def _free(self, job_id: str) -> None:
        backend = self._holder.pop(job_id, None)
        if backend is not None:
            self._slots[backend].pop(job_id, None)

    def holding(self, backend: str) -> list[str]:
        """The jobs that hold a slot on this backend, in the order they were sent."""
        return list(self._slots.get(backend, ()))

    def inflight(self, backend: str) -> int:
        return len(self._slots.get(backend, ()))
