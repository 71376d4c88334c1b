"""A request the monitor sends to the worker, and why: the reply comes back with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    kind: str  # the protocol's request `type`
    fields: dict[str, Any] = field(default_factory=dict)
    purpose: str = ""  # what the monitor does with the answer: "resync.worker", "snapshot", "action.cancel", ...
    job_id: str | None = None
    generation: int = 0  # the resync round a resync request belongs to

    def describe(self) -> str:
        return f"{self.kind} {self.job_id}" if self.job_id else self.kind


def is_error(reply: dict[str, Any]) -> bool:
    return reply.get("type") == "error"


def error_text(reply: dict[str, Any]) -> str:
    return f"{reply.get('code', '?')}: {reply.get('message', '')}"
