"""Time as the monitor sees it. Everything rendered that depends on "now" asks a Clock, so tests can freeze it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...

    def wall_time(self, ms: int) -> str:
        """HH:MM:SS of a protocol timestamp (ms since the epoch)."""
        ...


class SystemClock:
    """The real time, shown in the local time zone."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def wall_time(self, ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000).strftime("%H:%M:%S")


@dataclass
class FrozenClock:
    """A clock that only moves when told to (tests, snapshots), shown in a fixed time zone."""

    ms: int
    tz: tzinfo = UTC

    def now_ms(self) -> int:
        return self.ms

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)

    def wall_time(self, ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, self.tz).strftime("%H:%M:%S")
