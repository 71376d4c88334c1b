"""What the webhook sender decides, as pure code: which state changes a job's webhook wants, the payload and its
signature (Standard Webhooks), which deliveries are due, the backoff after a failed attempt, when to give up."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pixflow.jobs.deliveries import DELIVERED, GIVEN_UP, Delivery
from pixflow.vocabulary import TERMINAL_STATES

BACKOFF_CAP = 300.0  # seconds: the longest wait between two attempts
SECRET_PREFIX = "whsec_"


def wants(events: str, to: str) -> bool:
    """`final`: only the terminal state; `states`: every state change, the first (`queued`) included."""
    return events == "states" or to in TERMINAL_STATES


def payload(event: dict[str, Any], snapshot: dict[str, Any]) -> str:
    """The body: the `job.state` event's own fields and the job as `status` shows it at that moment."""
    body = {
        "type": "job.state",
        "job_id": event["job_id"],
        "seq": event["seq"],
        "from": event.get("from"),
        "to": event["to"],
        "ts": event["ts"],
        "job": snapshot,
    }
    return json.dumps(body, separators=(",", ":"), default=str)


def read_secret(text: str) -> bytes:
    """`whsec_` + base64 (as Standard Webhooks libraries take it), or else the file's text itself as the key."""
    text = text.strip()
    if text.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error as e:
            raise ValueError(f"the part after {SECRET_PREFIX} is not base64: {e}") from e
    if not text:
        raise ValueError("it is empty")
    return text.encode()


def signature(secret: bytes, delivery_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`."""
    signed = f"{delivery_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()


def headers(secret: bytes, delivery_id: str, timestamp: int, body: str) -> list[str]:
    return [
        "Content-Type: application/json",
        f"webhook-id: {delivery_id}",
        f"webhook-timestamp: {timestamp}",
        f"webhook-signature: {signature(secret, delivery_id, timestamp, body)}",
        "User-Agent: pixflow-webhooks",
        "Expect:",  # no `100-continue` round trip before the body
    ]


def due(
    pending: Iterable[Delivery],
    in_flight: set[str],
    per_host: dict[str, int],
    now_ms: int,
    host_limit: int,
    host_of: Callable[[str], str],
) -> list[Delivery]:
    """The deliveries to hand out now: due, not already out, at most `host_limit` in flight per receiver host."""
    counts = dict(per_host)
    chosen = []
    for delivery in pending:
        if delivery.id in in_flight or delivery.next_at > now_ms:
            continue
        host = host_of(delivery.url)
        if counts.get(host, 0) >= host_limit:
            continue
        counts[host] = counts.get(host, 0) + 1
        chosen.append(delivery)
    return chosen


@dataclass(frozen=True)
class Outcome:
    """One attempt, as a delivery thread saw it: the HTTP status (None: no answer) or what went wrong."""

    delivery_id: str
    status: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Timing:
    backoff: float  # seconds before the first retry
    retry_for: float  # seconds after its creation a delivery may still be retried


def backoff(attempts: int, base: float, rng: random.Random) -> float:
    """Seconds before the next attempt after `attempts` failed ones: min(cap, base * 2**(attempts-1)), times a
    jitter in [0.5, 1] so that receivers back from an outage are not hit by every delivery at once."""
    return float(min(BACKOFF_CAP, base * 2 ** max(0, attempts - 1)) * (0.5 + rng.random() / 2))


def after_attempt(delivery: Delivery, outcome: Outcome, now_ms: int, timing: Timing, rng: random.Random) -> Delivery:
    """The delivery with this attempt recorded: delivered, retried later, or given up past `retry_for`."""
    delivery.attempts += 1
    delivery.last_status = outcome.status
    delivery.last_error = (outcome.error or None) if not outcome.delivered else None
    if outcome.delivered:
        delivery.state, delivery.delivered_at = DELIVERED, now_ms
        return delivery
    wait_ms = int(backoff(delivery.attempts, timing.backoff, rng) * 1000)
    if now_ms + wait_ms > delivery.created_at + int(timing.retry_for * 1000):
        delivery.state = GIVEN_UP
        return delivery
    delivery.next_at = now_ms + wait_ms
    return delivery
