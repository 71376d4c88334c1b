"""Prometheus metrics (docs/operations.md lists each one and what to alert on).

Fed on the worker loop's thread, from what the worker already does: every event the Publisher sends (a job's
state changes carry its backend and error code, so the scheduler needs no hooks), every request the loop
answers, and a sample of the queue and the backends at each stats tick. prometheus_client's HTTP server runs
on a thread of its own and reads the values: its metrics take a lock per update, which is how the library is
meant to be used from several threads. Each Worker has its own CollectorRegistry, so several workers in one
process (the tests) never share a value.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from pixflow.errors import SettingError
from pixflow.vocabulary import STAGES, TERMINAL, JobState

log = logging.getLogger(__name__)

BANDS = ("low", "normal", "high")  # priority < 0, == 0, > 0: few labels whatever priorities clients choose
_SECONDS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_REQUEST_SECONDS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
_STAGE_VALUES = frozenset(stage.value for stage in STAGES)
_TERMINAL_VALUES = frozenset(state.value for state in TERMINAL)
_QUEUED = JobState.QUEUED.value


def band(priority: int) -> str:
    return "low" if priority < 0 else "high" if priority > 0 else "normal"


def topic_kind(topic: str) -> str:
    """`job.state.ID` -> `job.state`, `backend.NAME` -> `backend`, `worker.stats` -> `worker.stats`."""
    head, _, rest = topic.partition(".")
    return head if head == "backend" else f"{head}.{rest.partition('.')[0]}"


def parse_addr(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise SettingError(
            f"metrics_addr must be HOST:PORT (e.g. 127.0.0.1:9464) or empty; got {addr!r}", "metrics_addr"
        )
    return host.strip("[]"), int(port)


@dataclass
class _Tracked:
    """What the metrics keep about an unfinished job."""

    band: str
    workflow: str
    model: str  # the checkpoint asked for, or the workflow's default
    created_ms: int
    state: str = _QUEUED
    entered_ms: int = 0  # when it entered `state`
    started_ms: int | None = None  # when it first left `queued`


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.finished = Counter("pixflow_jobs_finished", "Jobs that ended, by final state", ["state"], registry=r)
        self.queued = Gauge("pixflow_jobs_queued", "Jobs in state queued, by priority band", ["band"], registry=r)
        self.running = Gauge("pixflow_jobs_running", "Jobs in a running stage, by priority band", ["band"], registry=r)
        self.oldest = Gauge(
            "pixflow_oldest_queued_job_age_seconds", "Age of the oldest job in state queued (0: none)", registry=r
        )
        self.queue_wait = Histogram(
            "pixflow_job_queue_wait_seconds",
            "From accepted to first running",
            ["workflow"],
            buckets=_SECONDS,
            registry=r,
        )
        self.run_time = Histogram(
            "pixflow_job_run_seconds", "From first running to done", ["workflow"], buckets=_SECONDS, registry=r
        )
        self.stage_time = Histogram(
            "pixflow_job_stage_seconds", "Time spent in each running stage", ["stage"], buckets=_SECONDS, registry=r
        )
        self.requests = Histogram(
            "pixflow_request_seconds", "Time to answer a request", ["type"], buckets=_REQUEST_SECONDS, registry=r
        )
        self.events = Counter("pixflow_events_published", "Events published, by topic kind", ["kind"], registry=r)
        self.backend_up = Gauge("pixflow_backend_up", "1 while the backend's WebSocket is up", ["backend"], registry=r)
        self.backend_inflight = Gauge(
            "pixflow_backend_inflight", "Prompts handed to the backend and not ended", ["backend"], registry=r
        )
        self.backend_failures = Counter(
            "pixflow_backend_failures",
            "Jobs failed on the backend (by error code) and disconnections (reason disconnected)",
            ["backend", "reason"],
            registry=r,
        )
        self.model_switches = Counter(
            "pixflow_backend_model_switches",
            "Prompts the placement sent to the backend with another checkpoint than its previous one",
            ["backend"],
            registry=r,
        )
        self.webhooks = Counter(
            "pixflow_webhook_deliveries", "Webhook attempts: delivered, retry, given_up", ["outcome"], registry=r
        )
        self.paused = Gauge("pixflow_worker_paused", "1 while dispatch is paused", registry=r)
        self.shutting_down = Gauge("pixflow_worker_shutting_down", "1 while the worker drains to stop", registry=r)
        self._jobs: dict[str, _Tracked] = {}
        self._switches_seen: dict[str, int] = {}
        self._backend_was_up: dict[str, bool] = {}
        self._event_counters: dict[str, Any] = {}  # topic kind -> its labelled counter (looked up once)
        self._server: Any = None

    # The HTTP endpoint.
    def serve(self, addr: str) -> None:
        host, port = parse_addr(addr)
        try:
            self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as e:
            taken = e.errno == errno.EADDRINUSE  # the same codes as a taken req_addr or pub_addr (worker.py)
            raise SettingError(
                f"cannot serve metrics on {addr} ({e}): set metrics_addr to a free HOST:PORT, or empty to turn "
                "the metrics endpoint off",
                "metrics_addr",
                code="address_in_use" if taken else "invalid_setting",
            ) from e
        log.info("metrics on http://%s:%d/metrics", host, port)

    @property
    def port(self) -> int | None:
        return None if self._server is None else int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # Feeds, on the loop's thread.
    def on_publish(self, topic: str, fields: dict[str, Any]) -> None:
        try:
            self._count(topic, fields)
        except Exception:  # a bug here must never fail the job whose event this is
            log.exception("metrics: cannot account for the event on %s", topic)

    def _count(self, topic: str, fields: dict[str, Any]) -> None:
        kind = topic_kind(topic)
        counter = self._event_counters.get(kind)
        if counter is None:
            counter = self._event_counters[kind] = self.events.labels(kind)
        counter.inc()
        if kind == "job.state":
            self._on_state(fields)
        elif kind == "backend":
            self._on_backend(fields)

    def observe_request(self, kind: str, seconds: float) -> None:
        self.requests.labels(kind).observe(seconds)

    def seed(self, snapshots: Iterable[dict[str, Any]]) -> None:
        """Take in the unfinished jobs a restarted worker recovered (they publish no creation event)."""
        for job in snapshots:
            params = job.get("params") or {}
            tracked = self._track(job["job_id"], params, job.get("workflow") or "", job.get("created_at") or 0)
            tracked.state = job["state"]
            tracked.entered_ms = (job.get("state_times") or {}).get(job["state"], tracked.created_ms)
            if job["state"] != _QUEUED:
                tracked.started_ms = job.get("started_at") or tracked.entered_ms

    def sample(self, backends: dict[str, tuple[bool, int]], paused: bool, shutting_down: bool) -> None:
        """At each stats tick: the gauges that describe the present (queue, backends, worker)."""
        queued = dict.fromkeys(BANDS, 0)
        running = dict.fromkeys(BANDS, 0)
        oldest: int | None = None
        for tracked in self._jobs.values():
            if tracked.state == _QUEUED:
                queued[tracked.band] += 1
                oldest = tracked.created_ms if oldest is None else min(oldest, tracked.created_ms)
            elif tracked.state in _STAGE_VALUES:
                running[tracked.band] += 1
        for name in BANDS:
            self.queued.labels(name).set(queued[name])
            self.running.labels(name).set(running[name])
        self.oldest.set(0 if oldest is None else max(0.0, time.time() - oldest / 1000))
        for name, (up, inflight) in backends.items():
            self.backend_up.labels(name).set(1 if up else 0)
            self.backend_inflight.labels(name).set(inflight)
        self.paused.set(1 if paused else 0)
        self.shutting_down.set(1 if shutting_down else 0)

    # Jobs, from their `job.state` events.
    def _track(self, job_id: str, params: dict[str, Any], workflow: str, created_ms: int) -> _Tracked:
        model = params.get("model") or f"{workflow}:default"
        tracked = _Tracked(band(int(params.get("priority") or 0)), workflow, model, created_ms, entered_ms=created_ms)
        self._jobs[job_id] = tracked
        return tracked

    def _on_state(self, event: dict[str, Any]) -> None:
        job_id, dest, ts = event["job_id"], event["to"], int(event["ts"])
        if event.get("from") is None:  # creation
            self._track(job_id, event.get("params") or {}, event.get("workflow") or "", ts)
            return
        tracked = self._jobs.get(job_id)
        if tracked is None:
            return  # a job this worker never saw created nor recovered (cannot happen; never worth a crash)
        if tracked.state in _STAGE_VALUES and tracked.state != dest:
            self.stage_time.labels(tracked.state).observe(max(0, ts - tracked.entered_ms) / 1000)
        if tracked.started_ms is None and dest != _QUEUED:
            tracked.started_ms = ts
            self.queue_wait.labels(tracked.workflow).observe(max(0, ts - tracked.created_ms) / 1000)
        tracked.state, tracked.entered_ms = dest, ts
        if dest in _TERMINAL_VALUES:
            del self._jobs[job_id]
            self.finished.labels(dest).inc()
            if dest == JobState.DONE.value and tracked.started_ms is not None:
                self.run_time.labels(tracked.workflow).observe(max(0, ts - tracked.started_ms) / 1000)
            backend = event.get("backend")
            if dest == JobState.FAILED.value and backend:
                code = (event.get("error") or {}).get("code") or "unknown"
                self.backend_failures.labels(backend, code).inc()

    def _on_backend(self, event: dict[str, Any]) -> None:
        name, up = event.get("name"), event.get("up")
        if not isinstance(name, str):
            return
        self.backend_up.labels(name).set(1 if up else 0)
        if "inflight" in event:
            self.backend_inflight.labels(name).set(int(event["inflight"]))
        if up is False and self._backend_was_up.get(name):
            self.backend_failures.labels(name, "disconnected").inc()
        self._backend_was_up[name] = bool(up)
        switches = event.get("model_switches")
        if isinstance(switches, int) and switches > self._switches_seen.get(name, 0):
            # The placement counts the switches it makes (backend figures): the counter follows their total.
            self.model_switches.labels(name).inc(switches - self._switches_seen.get(name, 0))
            self._switches_seen[name] = switches
