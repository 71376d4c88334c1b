"""Progress people can trust: one `overall` figure that only goes forward, and an ETA.

A job's expected run is a sum of stage durations in seconds: loading, encoding, every sampler step of
every sampler node, decoding, saving. Durations are learned per job shape (EtaBook) with defaults until
there is history. `overall` is the share of that expected run that is behind the job: stages before the
current one count as done (cached stages are skipped, not pending), sampler steps count one by one, and
time inside the other stages counts up to 90 % of their expected length. Once sampling has two steps,
the live step rate replaces the learned one for the steps still to come.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from pixflow.vocabulary import STAGES, JobState

FIXED_STAGES = (JobState.LOADING, JobState.ENCODING, JobState.DECODING, JobState.SAVING)
DEFAULT_SECONDS = {JobState.LOADING: 2.0, JobState.ENCODING: 0.3, JobState.DECODING: 0.3, JobState.SAVING: 0.2}
DEFAULT_STEP_SECONDS = 0.5
STEP = "step"  # the key of the per-step sampling duration in an estimate
LEARNING_RATE = 0.3  # weight of the newest run in the learned averages
IN_STAGE_CAP = 0.9  # a stage measured by time alone never claims more than this share of itself


@dataclass(frozen=True)
class Estimate:
    seconds: dict[str, float]  # stage value or STEP -> seconds
    learned: bool

    def of(self, key: str) -> float:
        return self.seconds[key]


def job_shape(workflow: str, model: str | None, width: int, height: int, steps: int, backend: str | None) -> str:
    """What drives a job's durations, as the key they are learned under."""
    return f"{workflow}|{model or '-'}|{width}x{height}|{steps}|{backend or '-'}"


class EtaBook:
    """Learned stage durations per job shape; a store persists them (see JobStore.eta_*)."""

    def __init__(self, learned: dict[str, float] | None = None) -> None:
        self._learned: dict[str, float] = dict(learned or {})

    def estimate(self, shape: str) -> Estimate:
        seconds: dict[str, float] = {}
        learned = False
        for key, default in [*((s.value, DEFAULT_SECONDS[s]) for s in FIXED_STAGES), (STEP, DEFAULT_STEP_SECONDS)]:
            value = self._learned.get(f"{shape}|{key}")
            learned = learned or value is not None
            seconds[key] = default if value is None else value
        return Estimate(seconds, learned)

    def learn(self, shape: str, durations: dict[str, float]) -> dict[str, float]:
        """Blend one finished run's durations in; return the updated entries (to persist)."""
        updated = {}
        for key, seconds in durations.items():
            name = f"{shape}|{key}"
            old = self._learned.get(name)
            self._learned[name] = seconds if old is None else old + LEARNING_RATE * (seconds - old)
            updated[name] = self._learned[name]
        return updated


def run_durations(state_times: dict[str, int], sampler_steps: int) -> dict[str, float]:
    """Seconds spent in each stage the job went through (cached stages have none), and per sampler step."""
    entered = sorted((ms, state) for state, ms in state_times.items() if state != JobState.QUEUED.value)
    durations: dict[str, float] = {}
    for (start, state), (end, _) in itertools.pairwise(entered):
        if state in DEFAULT_SECONDS or state == JobState.SAMPLING.value:
            durations[state] = (end - start) / 1000
    sampling = durations.pop(JobState.SAMPLING.value, None)
    if sampling is not None and sampler_steps:
        durations[STEP] = sampling / sampler_steps
    return durations


@dataclass
class JobProgress:
    """Per job: turns stage changes and sampler steps into `overall`, `eta` and the step rate."""

    estimate: Estimate
    sampler_steps: dict[str, int]  # sampler node id -> steps, from the graph; corrected by progress events
    stage: JobState | None = None
    stage_started: float = 0.0
    node: str | None = None
    value: int = 0
    maximum: int = 0
    finished_samplers: set[str] = field(default_factory=set)
    step_times: list[float] = field(default_factory=list)
    last_overall: float = 0.0

    def on_stage(self, stage: JobState, now: float | None = None) -> None:
        self.stage, self.stage_started = stage, time.monotonic() if now is None else now

    def on_step(self, node: str | None, value: int, maximum: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if node != self.node or value < self.value:
            if self.node is not None and self.value >= self.maximum > 0:
                self.finished_samplers.add(self.node)
            self.step_times = []
        if node is not None:
            self.sampler_steps[node] = maximum
        self.node, self.value, self.maximum = node, value, maximum
        self.step_times.append(now)

    def step_rate(self) -> float | None:
        """Sampler steps per second, over the current sampler's steps so far."""
        if len(self.step_times) < 2:
            return None
        span = self.step_times[-1] - self.step_times[0]
        return (len(self.step_times) - 1) / span if span > 0 else None

    def _step_seconds(self) -> float:
        rate = self.step_rate()
        return 1 / rate if rate else self.estimate.of(STEP)

    def _expected(self) -> dict[str, float]:
        step = self._step_seconds()
        total_steps = sum(self.sampler_steps.values()) or self.maximum
        expected = {s.value: self.estimate.of(s.value) for s in FIXED_STAGES}
        expected[JobState.SAMPLING.value] = step * total_steps
        return expected

    def _done(self, expected: dict[str, float], now: float) -> float:
        if self.stage is None:
            return 0.0
        order = [s.value for s in STAGES]
        current = order.index(self.stage.value)
        done = sum(expected[s] for s in order[:current])
        if self.stage == JobState.SAMPLING:
            steps = sum(self.sampler_steps.get(n, 0) for n in self.finished_samplers if n != self.node)
            done += self._step_seconds() * (steps + self.value)
        else:
            done += min(now - self.stage_started, IN_STAGE_CAP * expected[self.stage.value])
        return done

    def overall(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        expected = self._expected()
        total = sum(expected.values())
        share = min(1.0, self._done(expected, now) / total) if total > 0 else 0.0
        self.last_overall = max(self.last_overall, share)  # never backwards, whatever the estimates do
        return self.last_overall

    def eta(self, now: float | None = None) -> float:
        """Seconds until the job is done, from here."""
        now = time.monotonic() if now is None else now
        expected = self._expected()
        return max(0.0, sum(expected.values()) - self._done(expected, now))

    def view(self, now: float | None = None) -> dict[str, Any]:
        now = time.monotonic() if now is None else now
        rate = self.step_rate()
        stage_progress = self.value / self.maximum if self.stage == JobState.SAMPLING and self.maximum else None
        return {
            "overall": round(self.overall(now), 4),
            "eta": round(self.eta(now), 2),
            "stage_progress": stage_progress,
            "step_rate": round(rate, 2) if rate else None,
        }


def sampler_steps_of(graph: dict[str, Any], sampler_types: set[str]) -> dict[str, int]:
    """Sampler node id -> its `steps` input, for the nodes of the graph that sample."""
    steps = {}
    for node_id, node in graph.items():
        if node.get("class_type") in sampler_types:
            value = (node.get("inputs") or {}).get("steps")
            steps[node_id] = value if isinstance(value, int) else 20
    return steps
