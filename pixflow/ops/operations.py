"""What makes the worker operable, kept out of the loop's module: the store lock, the metrics, systemd's
notifications and the graceful stop. The worker calls it at a few points (worker.py: `self.ops`)."""

from __future__ import annotations

from collections.abc import Callable

from pixflow.jobs.store import JobStore
from pixflow.jobs.store_lock import StoreLock
from pixflow.loop.watcher import Schedule
from pixflow.ops.draining import Drain
from pixflow.ops.metrics import Metrics
from pixflow.ops.sd_notify import Notifier
from pixflow.scheduling.scheduler import Scheduler
from pixflow.serving.publisher import Publisher
from pixflow.settings import Settings
from pixflow.vocabulary import TERMINAL, JobState

_UNFINISHED = [state.value for state in JobState if state not in TERMINAL]


class Operations:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Taken before the store is opened: a second worker must not even recover the first one's jobs.
        self.lock = StoreLock(settings.db_path).acquire()
        self.metrics = Metrics()
        self.notifier = Notifier()
        self._drain: Drain | None = None

    def attach(self, publisher: Publisher, store: JobStore, scheduler: Scheduler) -> None:
        """Once the store is recovered and the sockets bound: feed the metrics, open their endpoint."""
        publisher.observers.append(self.metrics.on_publish)
        job_ids, _ = store.page(_UNFINISHED, 10_000_000, 0)
        self.metrics.seed(job.snapshot() for job_id in job_ids if (job := scheduler.find(job_id)) is not None)
        self._drain = Drain(scheduler, self.settings.shutdown_grace)
        if self.settings.metrics_addr:
            self.metrics.serve(self.settings.metrics_addr)

    def started(self, every: Callable[..., None]) -> None:
        """The loop is about to serve: tell systemd (Type=notify), and keep its watchdog fed from the loop, so
        a loop that hangs stops feeding it and gets restarted."""
        self.notifier.ready()
        if self.notifier.watchdog_interval is not None:
            every(self.notifier.watchdog_interval, self.notifier.watchdog, first=0.0)

    # Graceful stop.
    @property
    def draining(self) -> bool:
        return self._drain is not None and self._drain.active

    def begin_drain(self, schedule: Schedule) -> bool:
        """SIGTERM: start draining. False on a second signal while draining: the caller stops at once."""
        assert self._drain is not None, "attach() first"
        if not self._drain.begin():
            return False
        self.notifier.stopping()
        schedule(self.settings.shutdown_grace, lambda: None)  # wakes the loop when the grace ends
        return True

    def drained(self) -> bool:
        return self._drain is not None and self._drain.finished()

    def sample(self, scheduler: Scheduler) -> None:
        backends = {name: (state.up, scheduler.book.inflight(name)) for name, state in scheduler.backends.items()}
        self.metrics.sample(backends, scheduler.paused, self.draining)

    def count(self, webhook_outcome: str) -> None:
        """A webhook attempt's outcome (pixflow/webhooks/sender.py), counted."""
        self.metrics.webhooks.labels(webhook_outcome).inc()

    def close(self) -> None:
        self.metrics.close()
        self.lock.release()
