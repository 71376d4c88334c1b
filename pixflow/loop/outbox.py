"""What a turn of the worker loop does to the outside world, held until the turn's writes are committed.

A turn (one wake-up of the loop: requests, messages from the backends, timers, dispatch) writes to the store
in one transaction. Replies, events and commands to the backends it produces after its first write wait in the
outbox and go out, in the order they were made, once that transaction is committed: nothing outside the worker
ever sees a state that a crash could take back (docs/durability.md). What comes before any write (a `status`
reply, a progress event) depends on nothing uncommitted and goes out at once. Outside a turn (start, stop, tests
that drive the scheduler directly) effects go out at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Outbox:
    def __init__(self, uncommitted: Callable[[], bool] = lambda: True) -> None:
        # Whether the turn has written anything not yet committed. Until it has, an effect depends on no write of
        # the turn and goes out at once (a progress event is not held behind the rest of the turn); from the first
        # effect held on, every later one waits too, so the order is always the order they were made in.
        self._uncommitted = uncommitted
        self._held: list[tuple[Callable[..., Any], tuple[Any, ...]]] | None = None

    @property
    def holding(self) -> bool:
        return self._held is not None

    def hold(self) -> None:
        self._held = []

    def send(self, effect: Callable[..., Any], *args: Any) -> None:
        """`effect(*args)` now, or when the turn's writes are committed."""
        if self._held is None or (not self._held and not self._uncommitted()):
            effect(*args)
        else:
            self._held.append((effect, args))

    def release(self) -> None:
        held, self._held = self._held, None
        for effect, args in held or ():
            effect(*args)
