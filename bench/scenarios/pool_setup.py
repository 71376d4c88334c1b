"""The pool benchmark's world: four GPUs (replay servers) with their checkpoints, speeds and switch costs, and
the 200 jobs every policy runs. docs/pool.md ("Measuring") describes it.

    GPU         checkpoints   speed       switch cost
    gpu-1       A B C         1x          0.3 s
    gpu-2       A B           1x          0.3 s
    gpu-3       B C           1x          0.3 s
    gpu-4-slow  A C           3x slower   0.3 s

Every model is on three GPUs, every GPU has two or three models, the slow GPU has two. Jobs: 45 % A, 35 % B,
20 % C; priorities 0 (60 %), 5 (25 %), 10 (15 %); drawn from a fixed seed, so every run and every policy sees
the same list. Each job is 0.15 s of work on a fast GPU (0.45 s on the slow one); a model switch costs twice
that, so placement matters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pixflow.replay.models import BackendProfile

A, B, C = "model-a.safetensors", "model-b.safetensors", "model-c.safetensors"
RUN_SECONDS = 0.15
SWITCH_COST = 0.3
JOBS = 200
SEED = 12


@dataclass(frozen=True)
class Gpu:
    name: str
    profile: BackendProfile

    @property
    def checkpoints(self) -> frozenset[str]:
        return frozenset(self.profile.checkpoints or ())

    @property
    def speed(self) -> float:
        """Jobs per fast-GPU job time: 1 for a fast GPU, 1/3 for one three times slower."""
        return 1.0 / self.profile.speed_factor


def _gpu(name: str, checkpoints: tuple[str, ...], speed_factor: float = 1.0) -> Gpu:
    return Gpu(name, BackendProfile(checkpoints, speed_factor, SWITCH_COST, RUN_SECONDS))


GPUS = (
    _gpu("gpu-1", (A, B, C)),
    _gpu("gpu-2", (A, B)),
    _gpu("gpu-3", (B, C)),
    _gpu("gpu-4-slow", (A, C), speed_factor=3.0),
)


@dataclass(frozen=True)
class PoolJob:
    job_id: str
    model: str
    priority: int
    index: int  # arrival order


def make_jobs(count: int = JOBS, seed: int = SEED) -> list[PoolJob]:
    rng = random.Random(seed)
    models = rng.choices((A, B, C), weights=(45, 35, 20), k=count)
    priorities = rng.choices((0, 5, 10), weights=(60, 25, 15), k=count)
    return [PoolJob(f"pool-{i:03d}", models[i], priorities[i], i) for i in range(count)]


def by_priority(jobs: list[PoolJob]) -> list[PoolJob]:
    """Higher priority first, then arrival order: the order pixflow's queue promises (docs/protocol.md)."""
    return sorted(jobs, key=lambda job: (-job.priority, job.index))


def lower_bound(jobs: list[PoolJob], gpus: tuple[Gpu, ...] = GPUS) -> float:
    """Total work over the pool's capacity (fast-GPU seconds / fast-GPU equivalents): no schedule can finish
    sooner, even one that never switches a model and never leaves a GPU idle."""
    return len(jobs) * RUN_SECONDS / sum(gpu.speed for gpu in gpus)
