"""The webhook sender: the shell around policy.py, on the worker loop, with a small fixed pool of delivery threads.

On the loop: every `job.state` event (a Publisher observer) that a job's webhook wants becomes a delivery row,
inserted in the turn's transaction with the state change itself (jobs/deliveries.py), and is handed to the threads
once that transaction is committed (through the outbox). A timer hands out the retries that are due. The threads
only POST (post.py) and post each attempt's outcome to the sender's own inbox, which the loop's poller watches; the
loop records it in the turn that reads it. At most `HOST_LIMIT` deliveries are in flight per receiver host, so a
slow receiver holds two threads at most and the others keep delivering; a delivery in flight is never handed out
twice. On start every pending row is loaded and sent again: a delivery in flight when the worker died is sent once
more (at least once; receivers dedupe by the `webhook-id` header).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from pixflow.errors import ConfigError
from pixflow.jobs.deliveries import PENDING, Delivery, DeliveryRows
from pixflow.jobs.job import Job
from pixflow.jobs.store import JobStore
from pixflow.loop.inbox import Inbox
from pixflow.loop.outbox import Outbox
from pixflow.loop.watcher import Schedule, Watcher
from pixflow.settings import Settings
from pixflow.vocabulary import TOPIC_STATE, now_ms
from pixflow.webhooks import policy
from pixflow.webhooks.post import post
from pixflow.webhooks.targets import host_key

log = logging.getLogger(__name__)

THREADS = 4  # delivery threads, whatever the number of receivers
HOST_LIMIT = 2  # deliveries in flight to one receiver host (host:port) at once
TICK = 0.25  # seconds between looks at what is due
HOUR_MS = 3_600_000

_Work = tuple[str, str, str] | None  # (id, url, body); None: stop


def load_secret(settings: Settings) -> bytes | None:
    """The signing key from `webhook_secret_file`; a worker that may send webhooks does not start without one."""
    path = settings.webhook_secret_file
    if path is None:
        if settings.webhook_hosts or settings.webhook_default is not None or settings.webhook_client_defaults:
            raise ConfigError("webhook_hosts (or a webhook default) is set but webhook_secret_file is not: set it")
        return None
    try:
        return policy.read_secret(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read webhook_secret_file {path}: {e.strerror or e}") from e
    except ValueError as e:
        raise ConfigError(f"webhook_secret_file {path}: {e}") from e


class WebhookSender:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        outbox: Outbox,
        watcher: Watcher,
        schedule: Schedule,
        find: Callable[[str], Job | None],
        count: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self._settings = settings
        self._secret = load_secret(settings)
        self._rows = DeliveryRows(store)
        self._outbox = outbox
        self._watcher = watcher
        self._schedule = schedule
        self._find = find
        self._count = count  # delivered, retry, given_up: the metrics
        self._timing = policy.Timing(settings.webhook_backoff, settings.webhook_retry_for)
        self._rng = random.Random()
        self._pending: dict[str, Delivery] = {}
        self._in_flight: set[str] = set()
        self._per_host: Counter[str] = Counter()
        self._work: queue.SimpleQueue[_Work] = queue.SimpleQueue()
        self._results: Inbox[policy.Outcome] = Inbox()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        now = now_ms()
        for delivery in self._rows.pending():  # sent again at once, in flight when the worker stopped or not
            delivery.next_at = min(delivery.next_at, now)
            self._pending[delivery.id] = delivery
        if self._pending and self._secret is None:
            log.warning("%d webhook deliveries wait for webhook_secret_file to be set", len(self._pending))
        if self._pending:
            log.info("webhooks: %d deliveries pending from before the restart", len(self._pending))

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        """Before the loop serves: the threads, the watch on their outcomes, the timers."""
        if self._secret is None:
            return
        for index in range(THREADS):
            thread = threading.Thread(target=self._deliver, name=f"webhook-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._watcher.watch(self._results.wake_fd, self._on_results)
        self._every(TICK, self._hand_out)
        self._every(1.0, self._forget_old, HOUR_MS / 1000)

    def stop(self) -> None:
        self._stopping = True
        for _ in self._threads:
            self._work.put(None)
        for thread in self._threads:
            thread.join(0.5)  # one stuck in a POST ends with its timeout; nothing of it is lost (the row stays)
        if self._threads:
            self._watcher.unwatch(self._results.wake_fd)
        if not any(thread.is_alive() for thread in self._threads):
            self._results.close()

    def _every(self, first: float, callback: Callable[[], None], interval: float | None = None) -> None:
        def repeat() -> None:
            try:
                callback()
            finally:
                self._schedule(interval or first, repeat)

        self._schedule(first, repeat)

    # On the loop.
    def on_publish(self, topic: str, fields: dict[str, Any]) -> None:
        """A Publisher observer: a `job.state` event a job's webhook wants becomes a row, in the turn's transaction."""
        if not topic.startswith(TOPIC_STATE) or "to" not in fields:
            return
        try:
            job = self._find(fields["job_id"])
            hook = job.params.webhook if job is not None else None
            if job is None or hook is None or not policy.wants(hook["events"], fields["to"]):
                return
            body = policy.payload(fields, job.snapshot())
            now, delivery_id = now_ms(), f"msg_{uuid.uuid4().hex}"
            delivery = Delivery(delivery_id, job.job_id, hook["url"], body, fields["to"], now, next_at=now)
            self._rows.insert(delivery)
        except Exception:  # a bug here must not fail the job whose event this is
            log.exception("webhooks: the delivery of %s could not be recorded", topic)
            return
        self._outbox.send(self._admit, delivery)  # once the row is committed

    def _admit(self, delivery: Delivery) -> None:
        self._pending[delivery.id] = delivery
        self._hand_out()

    def _hand_out(self) -> None:
        if self._secret is None or self._stopping or not self._pending:
            return
        now = now_ms()
        chosen = policy.due(self._pending.values(), self._in_flight, self._per_host, now, HOST_LIMIT, host_key)
        for delivery in chosen:
            self._in_flight.add(delivery.id)
            self._per_host[host_key(delivery.url)] += 1
            self._work.put((delivery.id, delivery.url, delivery.body))

    def _on_results(self, _events: int) -> None:
        for outcome in self._results.drain():
            delivery = self._pending.get(outcome.delivery_id)
            if delivery is None or outcome.delivery_id not in self._in_flight:
                continue
            self._in_flight.discard(delivery.id)
            host = host_key(delivery.url)
            self._per_host[host] -= 1
            if self._per_host[host] <= 0:
                del self._per_host[host]
            policy.after_attempt(delivery, outcome, now_ms(), self._timing, self._rng)
            self._rows.update(delivery)  # in this turn's transaction
            self._note(delivery)
        self._hand_out()

    def _note(self, delivery: Delivery) -> None:
        if delivery.state == PENDING:
            self._count("retry")
            log.debug(
                "webhook %s to %s: attempt %d failed (%s)",
                delivery.id,
                delivery.url,
                delivery.attempts,
                delivery.last_error,
            )
            return
        del self._pending[delivery.id]
        self._count(delivery.state)
        if delivery.delivered_at is None:
            log.warning(
                "job %s: webhook %s to %s given up after %d attempts over %gs; last: %s",
                delivery.job_id,
                delivery.id,
                delivery.url,
                delivery.attempts,
                self._settings.webhook_retry_for,
                delivery.last_error,
            )
        elif delivery.attempts > 1:
            log.info("job %s: webhook %s delivered after %d attempts", delivery.job_id, delivery.id, delivery.attempts)

    def _forget_old(self) -> None:
        cutoff = now_ms() - int(self._settings.retention_hours * HOUR_MS)
        self._rows.forget_before(cutoff)

    # On the delivery threads.
    def _deliver(self) -> None:
        assert self._secret is not None
        while (work := self._work.get()) is not None:
            delivery_id, url, body = work
            try:
                timestamp = int(time.time())
                headers = policy.headers(self._secret, delivery_id, timestamp, body)
                status, error = post(url, headers, body.encode(), self._settings.webhook_timeout)
            except Exception as e:  # a bug: the attempt counts as failed and is retried
                log.exception("webhook %s: the attempt failed", delivery_id)
                status, error = None, f"internal error: {type(e).__name__}: {e}"
            if self._stopping:
                return
            self._results.post(policy.Outcome(delivery_id, status, error))
