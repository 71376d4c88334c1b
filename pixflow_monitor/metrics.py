"""Responsiveness figures the app keeps about itself: how long each refresh takes and how old events are when
the table shows them. Cheap enough to always run; the load benchmark and tests read them."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from statistics import quantiles


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class UiMetrics:
    events: int = 0
    batches: int = 0
    refreshes: int = 0
    refresh_ms: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))
    _oldest_pending_ts: int | None = None

    def batch(self, timestamps: list[int]) -> None:
        self.batches += 1
        self.events += len(timestamps)
        if timestamps:
            oldest = min(timestamps)
            if self._oldest_pending_ts is None or oldest < self._oldest_pending_ts:
                self._oldest_pending_ts = oldest

    def refreshed(self, started: float) -> None:
        """A refresh that began at perf_counter() `started` has put every pending event on screen."""
        self.refreshes += 1
        self.refresh_ms.append((time.perf_counter() - started) * 1000)
        if self._oldest_pending_ts is not None:
            self.latency_ms.append(max(0, wall_ms() - self._oldest_pending_ts))
            self._oldest_pending_ts = None

    def summary(self) -> dict[str, float]:
        return {
            "events": self.events,
            "batches": self.batches,
            "refreshes": self.refreshes,
            **percentiles("refresh_ms", self.refresh_ms),
            **percentiles("latency_ms", self.latency_ms),
        }


def percentiles(name: str, values: deque[float] | list[float]) -> dict[str, float]:
    data = sorted(values)
    if not data:
        return {}
    if len(data) == 1:
        return {f"{name}_p50": data[0], f"{name}_p95": data[0], f"{name}_max": data[0]}
    cuts = quantiles(data, n=100, method="inclusive")
    return {f"{name}_p50": cuts[49], f"{name}_p95": cuts[94], f"{name}_max": data[-1]}
