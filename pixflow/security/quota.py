"""Fair use at the door: how many queued jobs one key may have (`max_queued_per_owner`)."""

from __future__ import annotations

from pixflow.errors import ErrorCode, RequestError
from pixflow.jobs.store import JobStore
from pixflow.settings import Settings


def check_owner_quota(settings: Settings, store: JobStore, owner: str | None) -> None:
    """Refuse a `generate` from a key that already has its share of jobs waiting. Without CURVE (owner None) only
    the worker-wide `max_queued` applies."""
    limit = settings.max_queued_per_owner
    if owner is None or limit <= 0:
        return
    queued = store.count_queued(owner)
    if queued >= limit:
        raise RequestError(
            ErrorCode.QUEUE_FULL,
            f"key {owner!r} has {queued} queued jobs; max_queued_per_owner is {limit}: wait for some to start",
        )
