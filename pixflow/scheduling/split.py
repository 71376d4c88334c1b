"""Splitting the waiting work over the pool, so that no backend runs dry while work it cannot run is queued.

When backends differ in what they can run, taking a job is not neutral: a backend that can run every model and
takes the jobs of a model that a narrower backend also runs leaves that narrower one with nothing to do later,
while jobs only the wide one could run are still waiting (the tail of a batch then runs on part of the pool).
The split answers, for the jobs waiting now: the least time `horizon` in which the pool could clear them,
each backend busy at most that long after what it already holds, and how many jobs of each checkpoint each
backend takes in such a split. It is a fluid plan (jobs as divisible work, no switch costs): placement uses it
only as a preference between jobs of one priority (placement.py), never to hold a job back from a free backend
for long.

A maximum flow (models -> backends) answers whether a horizon is long enough; a bisection finds the least one.
Each backend's loaded checkpoint is offered first, so that among equally short splits the one that keeps
models where they are loaded wins.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

EPSILON = 1e-9
BISECTIONS = 24  # the horizon to within 2^-24 of the first guess: far finer than a job


@dataclass(frozen=True)
class Capacity:
    """One backend as the split sees it."""

    name: str
    seconds_per_job: float
    backlog: float  # seconds until what it already holds is done
    checkpoints: frozenset[str]
    loaded: str | None = None


@dataclass(frozen=True)
class Split:
    horizon: float  # seconds
    quotas: dict[tuple[str, str | None], float]  # (backend, checkpoint) -> jobs it takes in the split

    def share(self, backend: str, checkpoint: str | None) -> float:
        return self.quotas.get((backend, checkpoint), 0.0)


def runs(backend: Capacity, checkpoint: str | None) -> bool:
    return checkpoint is None or checkpoint in backend.checkpoints


def needed(waiting: Mapping[str | None, int], backends: Sequence[Capacity]) -> bool:
    """A split only matters when some waiting checkpoint is not on every backend."""
    return len(backends) > 1 and any(
        not all(runs(b, checkpoint) for b in backends) for checkpoint, count in waiting.items() if count
    )


def split(waiting: Mapping[str | None, int], backends: Sequence[Capacity]) -> Split:
    demand = {checkpoint: float(count) for checkpoint, count in waiting.items() if count > 0}
    able = [b for b in backends if b.seconds_per_job > 0]
    if not demand or not able:
        return Split(0.0, {})
    total = sum(demand.values())
    low = 0.0
    high = max(b.backlog for b in able) + total * max(b.seconds_per_job for b in able)
    best = _flow(demand, able, high)  # every job on any able backend one after another: always long enough
    for _ in range(BISECTIONS):
        middle = (low + high) / 2
        flow = _flow(demand, able, middle)
        if sum(flow.values()) >= total - 1e-6:
            high, best = middle, flow
        else:
            low = middle
    return Split(high, best)


def _flow(
    demand: dict[str | None, float], backends: list[Capacity], horizon: float
) -> dict[tuple[str, str | None], float]:
    """A maximum flow of jobs from checkpoints to the backends that run them, each backend taking at most what
    fits before `horizon`: loaded checkpoints first, then any path (Edmonds-Karp on a graph of a few nodes)."""
    room = {b.name: max(0.0, horizon - b.backlog) / b.seconds_per_job for b in backends}
    left = dict(demand)
    flow: dict[tuple[str, str | None], float] = {}
    for b in backends:  # a loaded model stays where it is loaded, as far as the horizon allows
        if b.loaded in left and runs(b, b.loaded):
            amount = min(left[b.loaded], room[b.name])
            if amount > EPSILON:
                flow[(b.name, b.loaded)] = amount
                left[b.loaded] -= amount
                room[b.name] -= amount
    edges = {checkpoint: [b.name for b in backends if runs(b, checkpoint)] for checkpoint in demand}
    while (path := _augmenting_path(left, room, edges, flow)) is not None:
        start, steps, end = path
        amount = min(left[start], room[end])
        for backend, checkpoint, forward in steps:
            if not forward:
                amount = min(amount, flow[(backend, checkpoint)])
        for backend, checkpoint, forward in steps:
            flow[(backend, checkpoint)] = flow.get((backend, checkpoint), 0.0) + (amount if forward else -amount)
        left[start] -= amount
        room[end] -= amount
    return {key: value for key, value in flow.items() if value > EPSILON}


Step = tuple[str, str | None, bool]  # (backend, checkpoint, forward: more of it; else less)


def _augmenting_path(
    left: dict[str | None, float],
    room: dict[str, float],
    edges: dict[str | None, list[str]],
    flow: dict[tuple[str, str | None], float],
) -> tuple[str | None, list[Step], str] | None:
    """The shortest path from a checkpoint with jobs left to a backend with room, possibly through backends that
    give up jobs of another checkpoint to make room (a breadth-first search of the residual graph)."""
    came_from: dict[tuple[str, str | None], tuple[tuple[str, str | None], Step] | None] = {}
    queue: deque[tuple[str, str | None]] = deque()
    for checkpoint, jobs in left.items():
        if jobs > EPSILON:
            came_from[("model", checkpoint)] = None
            queue.append(("model", checkpoint))
    while queue:
        kind, key = node = queue.popleft()
        if kind == "model":
            for backend in edges.get(key, ()):
                if ("backend", backend) in came_from:
                    continue
                came_from[("backend", backend)] = (node, (backend, key, True))
                if room[backend] > EPSILON:
                    return _walk_back(came_from, ("backend", backend))
                queue.append(("backend", backend))
        else:
            for (backend, checkpoint), amount in flow.items():
                if backend == key and amount > EPSILON and ("model", checkpoint) not in came_from:
                    came_from[("model", checkpoint)] = (node, (backend, checkpoint, False))
                    queue.append(("model", checkpoint))
    return None


def _walk_back(
    came_from: dict[tuple[str, str | None], tuple[tuple[str, str | None], Step] | None], end: tuple[str, str | None]
) -> tuple[str | None, list[Step], str]:
    steps: list[Step] = []
    node = end
    while (entry := came_from[node]) is not None:
        node, step = entry
        steps.append(step)
    assert node[0] == "model" and end[1] is not None
    return node[1], steps, end[1]
