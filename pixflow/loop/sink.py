"""Where the loop's parts publish events: a structural type, so the scheduling parts need not know the PUB socket
(serving/publisher.py sends them; tests record them)."""

from __future__ import annotations

from typing import Any, Protocol


class Sequenced(Protocol):
    """What an event about one job needs of it: its id and the next number of its events."""

    @property
    def job_id(self) -> str: ...

    def next_seq(self) -> int: ...


class EventSink(Protocol):
    def publish(self, topic: str, fields: dict[str, Any]) -> None: ...

    def job_event(self, prefix: str, job: Sequenced, fields: dict[str, Any]) -> None: ...
