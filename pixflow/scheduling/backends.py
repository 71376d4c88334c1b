"""The backends as the loop sees them: health, mode, what each can run and how fast, and what it has loaded."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pixflow.comfy.backend import Backend, LoopLink
from pixflow.comfy.capabilities import Capabilities
from pixflow.settings import BackendSettings, Settings

RETRY_AFTER_SUBMIT_FAILURE = 1.0  # seconds a backend rests after a failed POST /prompt
LEARNING_RATE = 0.3  # weight of the newest job in a backend's running averages


class Health(StrEnum):
    """What its WebSocket says: heard from yet, and connected now."""

    UNKNOWN = "unknown"  # not heard from yet (just started, or just added)
    UP = "up"
    DOWN = "down"


class Standing(StrEnum):
    """A backend's `state` on the wire (docs/protocol.md, `backend.<name>`): its health, then its place in the pool."""

    UP = "up"  # up, active and staying: takes prompts
    DOWN = "down"  # down, or not heard from yet
    DRAINING = "draining"
    DISABLED = "disabled"
    RETIRING = "retiring"  # removed from the settings: drained, then dropped
    REMOVED = "removed"  # gone from the pool (published once)


class Mode(StrEnum):
    ACTIVE = "active"  # takes new prompts
    DRAINING = "draining"  # takes none; what it has runs to the end there
    DISABLED = "disabled"  # takes none; prompts waiting in its queue are moved to other backends


@dataclass
class BackendState:
    backend: Backend
    settings: BackendSettings
    max_inflight: int
    health: Health = Health.UNKNOWN
    client_id: str | None = None  # of the WebSocket now open: prompts sent with it report to us
    reason: str | None = None
    mode: Mode = Mode.ACTIVE
    retiring: bool = False  # removed from the settings: drained, then dropped
    capabilities: Capabilities | None = None  # None until its /object_info has been read
    running_prompt: str | None = None
    queue_remaining: int | None = None  # ComfyUI's own queue depth, from its `status` events
    resting_until: float = 0.0
    last_frame: float = field(default_factory=time.monotonic)
    down_since: float | None = None
    last_used: float = 0.0  # monotonic time of its last prompt: least recently used first among equals
    loaded_model: str | None = None  # the checkpoint of the last prompt sent to it
    model_switches: int = 0
    jobs_done: int = 0
    seconds_per_job: float | None = None  # learned from its jobs, ComfyUI's execution start to the end
    switch_seconds: float | None = None  # learned extra time of a job that made it load another checkpoint
    load_runs: list[float] = field(default_factory=list)  # runs that loaded a checkpoint, before any plain run
    discard: set[str] = field(default_factory=set)  # prompt ids of copies to remove once it is back

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def models(self) -> list[str]:
        return sorted(self.capabilities.checkpoints) if self.capabilities else []

    @property
    def up(self) -> bool:
        return self.health == Health.UP

    @property
    def taking_jobs(self) -> bool:
        """Up, active and staying: placement counts on it (it may still be resting or have no free slot)."""
        return self.standing == Standing.UP

    def accepts_prompts(self, now: float) -> bool:
        return (
            self.taking_jobs
            and self.client_id is not None
            and now >= self.resting_until
            and self.capabilities is not None
        )

    def rest(self) -> None:
        self.resting_until = time.monotonic() + RETRY_AFTER_SUBMIT_FAILURE

    def learn(self, seconds: float, loaded: bool) -> None:
        """A job ended `done` here after `seconds` of running; `loaded` if it made ComfyUI load its checkpoint.
        A load's extra time over a plain job is the switch time; loads seen before any plain job wait for one."""
        self.jobs_done += 1
        if loaded:
            self.load_runs.append(seconds)
        else:
            self.seconds_per_job = _average(self.seconds_per_job, seconds)
        if self.seconds_per_job is not None:
            for run in self.load_runs:
                self.switch_seconds = _average(self.switch_seconds, max(0.0, run - self.seconds_per_job))
            self.load_runs.clear()

    @property
    def standing(self) -> Standing:
        if not self.up:
            return Standing.DOWN
        if self.retiring:
            return Standing.RETIRING
        return Standing.UP if self.mode == Mode.ACTIVE else Standing(self.mode.value)

    def describe(self, inflight: int) -> dict[str, Any]:
        caps = self.capabilities
        return {
            "name": self.name,
            "url": self.backend.url,
            "up": self.up,
            "state": self.standing.value,
            "mode": self.mode.value,
            "reason": self.reason,
            "version": caps.version if caps else None,
            "labels": dict(self.settings.labels),
            "models": len(caps.checkpoints) if caps else 0,
            "loras": len(caps.loras) if caps else 0,
            "node_types": len(caps.node_types) if caps else 0,
            "inflight": inflight,
            "max_inflight": self.max_inflight,
            "queue_remaining": self.queue_remaining,
            "loaded_model": self.loaded_model,
            "jobs_done": self.jobs_done,
            "seconds_per_job": round(self.seconds_per_job, 3) if self.seconds_per_job is not None else None,
            "model_switches": self.model_switches,
        }


def _average(old: float | None, sample: float) -> float:
    return sample if old is None else old + LEARNING_RATE * (sample - old)


def make_backend(settings: Settings, backend: BackendSettings, link: LoopLink) -> BackendState:
    client = Backend(
        backend.name,
        backend.url,
        link,
        settings.http_timeout,
        settings.ws_ping_interval,
        settings.ws_ping_timeout,
        settings.fetch_workers,
    )
    return BackendState(client, backend, backend.inflight_limit(settings.max_inflight))


def make_backends(settings: Settings, link: LoopLink) -> dict[str, BackendState]:
    return {b.name: make_backend(settings, b, link) for b in settings.backends}
