"""What a turn of the worker loop does to the outside world, held until the turn's writes are committed.

A turn (one wake-up of the loop: requests, messages from the backends, timers, dispatch) writes to the store
in one transaction. Replies, events and commands to the backends it produces wait in the outbox and go out,
in the order they were made, once that transaction is committed: nothing outside the worker ever sees a state
that a crash could take back (docs/durability.md). Outside a turn (start, stop, tests that drive the scheduler
directly) effects go out at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Outbox:
    def __init__(self) -> None:
        self._held: list[tuple[Callable[..., Any], tuple[Any, ...]]] | None = None

    @property
    def holding(self) -> bool:
        return self._held is not None

    def hold(self) -> None:
        self._held = []

    def send(self, effect: Callable[..., Any], *args: Any) -> None:
        """`effect(*args)` now, or when the turn's writes are committed."""
        if self._held is None:
            effect(*args)
        else:
            self._held.append((effect, args))

    def release(self) -> None:
        held, self._held = self._held, None
        for effect, args in held or ():
            effect(*args)
