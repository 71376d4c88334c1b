"""What a request handler is given: the request as a value, and the parts of the worker it may use.

A handler never sees the worker's loop, sockets or timers: `Serving` names the few parts requests read and change,
and the worker is one (structurally). Who asked travels with the request (`Request.caller`), not on an object
shared between requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pixflow.groups.book import GroupBook
from pixflow.jobs.store import JobStore
from pixflow.protocol import reply
from pixflow.scheduling.scheduler import Scheduler
from pixflow.security.roles import Caller
from pixflow.serving.rules import RuleCache
from pixflow.settings import Settings
from pixflow.workflows import Workflow


@dataclass(frozen=True)
class Request:
    """One decoded request: its map (the envelope checked: a known `type`, `v` 1) and the key that sent it."""

    message: dict[str, Any]
    caller: Caller

    @property
    def type(self) -> str:
        kind: str = self.message["type"]
        return kind

    @property
    def req_id(self) -> Any:
        return self.message.get("req_id")

    def reply(self, kind: str, **fields: Any) -> dict[str, Any]:
        """A reply to this request: its `req_id` echoed."""
        return reply(kind, self.req_id, **fields)


class Serving(Protocol):
    """The parts of the worker that requests use (pixflow/serving/worker.py provides them)."""

    settings: Settings
    workflows: dict[str, Workflow]
    rule_cache: RuleCache
    scheduler: Scheduler
    store: JobStore
    groups: GroupBook
    started_at: int

    @property
    def draining(self) -> bool:
        """SIGTERM was received: no new jobs (`shutting_down`)."""
        ...

    def status(self) -> dict[str, Any]:
        """The `worker` reply's fields."""
        ...
