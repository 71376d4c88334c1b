"""Messages the link threads post to the UI. Small dataclasses; the UI thread is the only one touching state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from pixflow_monitor.request import Request

Event = tuple[str, dict[str, Any]]  # (topic, payload)


@dataclass
class EventsReceived(Message):
    """A batch of events read from the PUB socket (at most one batch per ~50 ms, previews coalesced)."""

    events: list[Event]


@dataclass
class ReplyReceived(Message):
    """The worker answered a request (possibly with `error`)."""

    request: Request
    reply: dict[str, Any]


@dataclass
class RequestFailed(Message):
    """A request got no answer: `timeout` (the worker did not reply in time) or `unreachable` (not sent)."""

    request: Request
    code: str
    message: str


@dataclass
class LinkUp(Message):
    """The worker answers again (or for the first time): time to resynchronise."""


@dataclass
class LinkDown(Message):
    """The worker stopped answering."""

    reason: str


@dataclass
class WorkerRestarted(Message):
    """A heartbeat `pong` carried another `started_at` while the link stayed up: the worker restarted quickly."""

    started_at: int


@dataclass
class JobHighlighted(Message):
    """The jobs table's cursor is on another job (or on none)."""

    job_id: str | None
