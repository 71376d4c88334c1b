"""Webhook deliveries as rows of the job store (the `webhook_deliveries` table of jobs/rows.py).

A delivery is inserted in the transaction of the state change it reports (the loop's turn), so it exists exactly when
that change was committed; each attempt's outcome is written in the turn that hears of it. pixflow/webhooks/ decides
what to send and when; this module only reads and writes the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from pixflow.jobs.store import JobStore

PENDING, DELIVERED, GIVEN_UP = "pending", "delivered", "given_up"


@dataclass
class Delivery:
    id: str  # the webhook-id: the receiver dedupes by it
    job_id: str
    url: str
    body: str  # the JSON payload, sent and signed as it is
    event: str  # the state the job moved to
    created_at: int  # ms
    attempts: int = 0
    next_at: int = 0  # ms
    state: str = PENDING
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: int | None = None


_COLUMNS = "id, job_id, url, body, event, created_at, attempts, next_at, state, last_status, last_error, delivered_at"


class DeliveryRows:
    def __init__(self, store: JobStore) -> None:
        self._store = store

    def insert(self, delivery: Delivery) -> None:
        d = delivery
        values = (d.id, d.job_id, d.url, d.body, d.event, d.created_at, d.attempts, d.next_at, d.state)
        self._store.write(
            "INSERT INTO webhook_deliveries (id, job_id, url, body, event, created_at, attempts, next_at, state)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )

    def update(self, d: Delivery) -> None:
        """The delivery after an attempt: its count, when the next is due, its state and what the receiver said."""
        self._store.write(
            "UPDATE webhook_deliveries SET attempts = ?, next_at = ?, state = ?, last_status = ?, last_error = ?,"
            " delivered_at = ? WHERE id = ?",
            (d.attempts, d.next_at, d.state, d.last_status, d.last_error, d.delivered_at, d.id),
        )

    def pending(self) -> list[Delivery]:
        """Every delivery not yet delivered nor given up, oldest first (at start: retried, at least once each)."""
        rows = self._store.read(
            f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE state = ? ORDER BY created_at, rowid", (PENDING,)
        )
        return [Delivery(**dict(row)) for row in rows]

    def forget_before(self, cutoff_ms: int) -> int:
        """Ended deliveries older than the retention (as finished jobs are forgotten); pending ones stay."""
        return self._store.write(
            "DELETE FROM webhook_deliveries WHERE created_at < ? AND state != ?", (cutoff_ms, PENDING)
        )
