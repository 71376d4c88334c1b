"""Where a job is in dispatch: its phase, and who holds which backend slot.

The protocol's job states (vocabulary.JobState: queued, loading, ..., done) say what ComfyUI is doing with a
job and are what clients see. The *phase* says where the job is between pixflow and its backend, which the
states cannot tell: a `queued` job may be waiting in pixflow's queue, or sent and waiting in ComfyUI's own
queue, or sent to a backend whose WebSocket dropped so that pixflow must ask ComfyUI where it is.

    WAITING ──► SUBMITTED ──► SUCCEEDED ──► FETCHING ──► ENDED
       ▲          │   ▲            │
       │          ▼   │            ▼
       ├──────── RECONCILING ◄─────┘
       └──────── WITHDRAWING ◄── SUBMITTED
    (every phase may end; jobs/life.py phase_moves() is the whole graph)

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

The moves are the rows of jobs/life.py, which decides them with the job's state; the shell there
(scheduling/life_shell.py) writes `Job.phase` and `Job.backend`, and tells the `DispatchBook` here which job
holds which backend's slot.
"""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum


class Phase(StrEnum):
    WAITING = "waiting"
    SUBMITTED = "submitted"
    WITHDRAWING = "withdrawing"
    RECONCILING = "reconciling"
    SUCCEEDED = "succeeded"
    FETCHING = "fetching"
    ENDED = "ended"


# Phases in which the job's prompt is on its backend and takes one of its `max_inflight` slots.
ON_BACKEND: frozenset[Phase] = frozenset({Phase.SUBMITTED, Phase.WITHDRAWING, Phase.RECONCILING, Phase.SUCCEEDED})


class DispatchBook:
    """The one owner of which jobs hold each backend's slots (the phase is the job's, written by the shell)."""

    def __init__(self) -> None:
        self._slots: defaultdict[str, dict[str, None]] = defaultdict(dict)  # backend -> job ids, in order sent
        self._holder: dict[str, str] = {}  # job id -> the backend whose slot it holds

    def place(self, job_id: str, phase: Phase, backend: str | None) -> None:
        """The job entered `phase`: it holds a slot of `backend` exactly while its prompt is on it."""
        if phase in ON_BACKEND and backend is not None:
            if self._holder.get(job_id) != backend:
                self._free(job_id)
                self._hold(job_id, backend)
        else:
            self._free(job_id)

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
