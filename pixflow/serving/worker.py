"""The worker: one loop owns the sockets and, through the Scheduler, every job; threads feed it an Inbox."""

from __future__ import annotations

import errno
import gc
import heapq
import itertools
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq

from pixflow import __version__
from pixflow.comfy.messages import LoopMessage
from pixflow.errors import ConfigError, ErrorCode, RequestError, SettingError
from pixflow.groups.book import GroupBook, SheetWritten
from pixflow.jobs.store import JobStore
from pixflow.loop.inbox import Inbox
from pixflow.loop.outbox import Outbox
from pixflow.loop.watcher import Watcher
from pixflow.ops.operations import Operations
from pixflow.protocol import MAX_REQUEST_BYTES, PROTOCOL_VERSION, decode_request, error_reply, now_ms, pack
from pixflow.scheduling.scheduler import Scheduler
from pixflow.security.guard import Security
from pixflow.security.roles import Caller
from pixflow.serving import requests
from pixflow.serving.publisher import Publisher
from pixflow.serving.rules import RuleCache
from pixflow.settings import Settings
from pixflow.vocabulary import TERMINAL, TOPIC_STATS, JobState
from pixflow.webhooks.sender import WebhookSender, load_secret
from pixflow.workflows import load_workflows

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
GC_THRESHOLD = 20_000  # allocations between young-generation collections (CPython's default is 700)


@dataclass(frozen=True)
class _Stop:
    pass


@dataclass(frozen=True)
class _Drain:  # SIGTERM: a graceful stop (draining.py)
    pass


@dataclass(frozen=True)
class _Reload:  # SIGHUP: read `backends:` (and the client keys) again
    pass


InboxItem = LoopMessage | SheetWritten | _Stop | _Drain | _Reload


def bind(socket: zmq.Socket[bytes], address: str, setting: str) -> None:
    """Bind, or a one-line SettingError naming the setting and a code (`pixflow serve` prints it and exits 2, as for
    a taken metrics port), never a ZeroMQ traceback."""
    try:
        socket.bind(address)
    except zmq.ZMQError as e:
        taken = e.errno == errno.EADDRINUSE
        why = "it is in use (another worker, or another program)" if taken else f"{e}"
        message = f"cannot bind {setting} {address}: {why}; set {setting} to a free address of this machine"
        raise SettingError(message, setting, code="address_in_use" if taken else "invalid_setting") from e


class Worker:
    def __init__(
        self,
        settings: Settings,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        reload_settings: Callable[[], Settings] | None = None,
    ) -> None:
        self.settings = settings
        self._reload_settings = reload_settings  # how SIGHUP reads the settings again (the config file, flags)
        self.workflows = load_workflows(settings.workflows_dir)
        load_secret(settings)  # webhooks without a secret: refused, like a missing workflow, before anything starts
        self.rule_cache = RuleCache()  # what a `generate` is checked against, per workflow (serving/rules.py)
        if settings.default_workflow not in self.workflows:
            raise ConfigError(f"default workflow {settings.default_workflow!r} is not in {settings.workflows_dir}")
        self.started_at = now_ms()
        self.security = Security(settings, context)  # refuses an exposed address without keys (docs/security.md)
        self.inbox: Inbox[InboxItem] = Inbox()
        self.watcher = Watcher()  # the loop's poller: its sockets, the inbox, the backends' WebSockets
        # A turn's replies, events and backend commands, released after its commit (those after its first write).
        self.outbox = Outbox(lambda: self.store.writing)
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_order = itertools.count()
        self.ops = Operations(settings)  # holds the store's lock from here on (one worker per store)
        self.store = JobStore(settings.db_path, settings.db_synchronous)
        self._context = self.security.context
        self.router = self._context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES)
        self.security.secure(self.router)
        self.pub = self._context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.setsockopt(zmq.SNDHWM, settings.pub_hwm)
        self.security.secure(self.pub)
        try:
            bind(self.router, settings.req_addr, "req_addr")
            bind(self.pub, settings.pub_addr, "pub_addr")
        except SettingError:  # nothing else was started yet: give back what was (the sockets, the store's lock)
            for close in (self.router.close, self.pub.close, self.store.close, self.security.close, self.ops.close):
                close()
            raise
        self.security.watch(self.router)
        self.security.watch(self.pub)
        self.req_endpoint = self.router.getsockopt_string(zmq.LAST_ENDPOINT)
        self.pub_endpoint = self.pub.getsockopt_string(zmq.LAST_ENDPOINT)
        self.groups = GroupBook(settings, self.store, self.inbox.post)
        self.publisher = Publisher(self.pub, self.outbox)
        self.scheduler = Scheduler(
            settings,
            self.workflows,
            self.store,
            self.publisher,
            self.inbox.post,
            self.schedule,
            on_job_end=self.groups.on_job_end,  # a group's last job draws its contact sheet
            outbox=self.outbox,
            watcher=self.watcher,
        )
        self.groups.bind(self.publisher, self.scheduler.find)
        self.webhooks = WebhookSender(  # docs/webhooks.md: rows written with the state changes they report
            settings, self.store, self.outbox, self.watcher, self.schedule, self.scheduler.registry.get, self.ops.count
        )
        self.publisher.observers.append(self.webhooks.on_publish)
        self.scheduler.recover()
        self.ops.attach(self.publisher, self.store, self.scheduler)
        self._running = False

    # Lifecycle.
    def run(self) -> None:
        """Serve until stop() is called. Everything below runs on this one thread."""
        self._running = True
        # Every job adds a few dozen objects; the default collector thresholds would walk them all often and
        # stall requests for milliseconds. Startup objects never die: move them out of the collector's way.
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD, 20, 50)
        self.scheduler.start()
        self.webhooks.start()
        self.watcher.poller.register(self.router, zmq.POLLIN)  # served by the turn itself, not by a watcher reader
        self.watcher.poller.register(self.inbox.wake_fd, zmq.POLLIN)
        self._every(self.settings.stats_interval, self._tick)
        self._every(3600.0, self._apply_retention, first=0.0)
        self._every(1.0, self.security.reload_if_changed)  # client keys: added, revoked, roles changed
        log.info("pixflow %s serving requests on %s, events on %s", __version__, self.req_endpoint, self.pub_endpoint)
        self.ops.started(self._every)
        try:
            while self._running:
                ready = self.watcher.poll(self._poll_timeout_ms())
                self.store.begin_turn()
                self.outbox.hold()
                try:
                    self._turn(ready)
                finally:
                    self.store.end_turn()  # if the commit fails, nothing of this turn goes out
                    self.outbox.release()
                self.store.trim_wal()
        finally:
            self._shutdown()

    def _turn(self, ready: dict[Any, int]) -> None:
        """One wake-up: requests, the backends' WebSockets, what their threads posted, due timers, dispatch (one
        transaction)."""
        if self.router in ready:
            self._serve_requests()
        self.watcher.serve_ready(ready)
        if self.inbox.wake_fd in ready:
            for item in self.inbox.drain():
                match item:
                    case _Stop():
                        self._running = False
                    case _Drain():
                        self._running = self.ops.begin_drain(self.schedule)  # a second signal stops at once
                    case _Reload():
                        self._reload()
                    case SheetWritten():
                        self.groups.on_sheet(item)
                    case _:
                        self.scheduler.on_message(item)  # guarded there, per job
        self._run_due_timers()
        if not self.ops.draining:
            self.scheduler.dispatch()
        elif self.ops.drained():
            self._running = False

    def stop(self) -> None:
        """Thread-safe: ask the loop to finish."""
        self.inbox.post(_Stop())

    def reload(self) -> None:
        """Thread-safe (and safe from a signal handler): read the backends and client keys again."""
        self.inbox.post(_Reload())

    def _reload(self) -> None:
        self.security.ask_reload()
        if self._reload_settings is None:
            return
        try:
            fresh = self._reload_settings()
        except ConfigError as e:
            log.error("reload refused, the settings are unchanged: %s", e)
            return
        log.info("reloading backends: %s", ", ".join(b.name for b in fresh.backends))
        self.scheduler.reload_backends(fresh.backends)

    def drain(self) -> None:
        """Thread-safe (and safe from a signal handler): no new jobs, let ComfyUI finish its prompts, then stop."""
        self.inbox.post(_Drain())

    def _shutdown(self) -> None:
        self.scheduler.stop()
        self.groups.stop()  # its thread posts to the inbox: done before the inbox closes
        self.webhooks.stop()
        self.store.close()
        self.router.close(0)
        self.pub.close(0)
        self.security.close()
        self.inbox.close()
        self.ops.close()  # the store's lock last: the store is closed
        log.info("pixflow stopped")

    # Timers: run on the loop's thread, between messages.
    def schedule(self, delay: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_order), callback))

    def _every(self, interval: float, callback: Callable[[], None], first: float | None = None) -> None:
        def repeat() -> None:
            callback()
            self.schedule(interval, repeat)

        self.schedule(interval if first is None else first, repeat)

    def _poll_timeout_ms(self) -> int:
        if not self._timers:
            return 1000
        return max(0, int((self._timers[0][0] - time.monotonic()) * 1000) + 1)

    def _run_due_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, callback = heapq.heappop(self._timers)
            try:
                callback()  # a job's timers are guarded per job (Scheduler.guard); this catches the worker's own
            except Exception:
                log.exception("timer %r failed", callback)

    def _tick(self) -> None:
        self.store.flush()
        self.scheduler.tick()
        self.publisher.publish(TOPIC_STATS, self._stats())
        self.ops.sample(self.scheduler)

    def _apply_retention(self) -> None:
        cutoff = now_ms() - int(self.settings.retention_hours * HOUR_MS)
        removed = self.store.delete_finished_before(cutoff)
        if removed:
            log.info("forgot %d jobs that finished more than %g hours ago", removed, self.settings.retention_hours)

    # Requests.
    def _serve_requests(self) -> None:
        while True:
            try:
                parts = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            caller = self.security.caller(parts[-1])  # from the ZAP user id: the client key's name and role
            if caller is None:
                continue  # a key revoked since it connected: nothing is answered
            self.outbox.send(self.router.send_multipart, self._answer([part.bytes for part in parts], caller))

    def _answer(self, frames: list[bytes], caller: Caller) -> list[bytes]:
        try:
            split = frames.index(b"")
        except ValueError:  # a DEALER that forgot the empty delimiter frame
            problem = error_reply(ErrorCode.BAD_REQUEST, "expected [empty delimiter frame, msgpack map]")
            return [*frames[:1], b"", pack(problem)]
        envelope, body = frames[: split + 1], frames[split + 1 :]
        if len(body) != 1:
            count = len(body)
            problem = error_reply(ErrorCode.BAD_REQUEST, f"expected one payload frame after the delimiter, got {count}")
            return [*envelope, pack(problem)]
        req_id = None
        kind, started = "invalid", time.perf_counter()
        try:
            message = decode_request(body[0])
            req_id = message.get("req_id")
            kind = message["type"] if message["type"] in requests.BY_NAME else "unknown"
            answer = requests.answer(self, message, caller)
        except RequestError as e:
            answer = error_reply(e.code, e.message, req_id if req_id is not None else e.req_id)
        except sqlite3.Error as e:  # the store failed (disk full, a bug in a query): its text is for the log only
            log.exception("request %s failed in the job store", kind)
            answer = error_reply(
                ErrorCode.INTERNAL, f"internal error: the job store failed ({type(e).__name__})", req_id
            )
        except Exception as e:  # a bug: answer, log, keep serving
            log.exception("request failed")
            answer = error_reply(ErrorCode.INTERNAL, f"internal error: {type(e).__name__}: {e}", req_id)
        self.ops.metrics.observe_request(kind, time.perf_counter() - started)
        return [*envelope, pack(answer)]

    # What requests read (serving/context.py: Serving).
    @property
    def draining(self) -> bool:
        return self.ops.draining

    def status(self) -> dict[str, Any]:
        counts = {state.value: 0 for state in JobState} | self.store.count_by_state()
        return {
            "version": __version__,
            "protocol": PROTOCOL_VERSION,
            "started_at": self.started_at,
            "paused": self.scheduler.paused,
            "shutting_down": self.ops.draining,
            "queued": self.scheduler.registry.queued_count(),  # in pixflow's own queue, against max_queued
            "max_queued": self.settings.max_queued,
            "jobs": counts,
            "backends": self.scheduler.describe_backends(),
            "workflows": sorted(self.workflows),
            "security": self.security.describe(),
        }

    def _stats(self) -> dict[str, Any]:
        counts = self.scheduler.registry.count_by_state()
        running = sum(counts[s.value] for s in JobState if s not in TERMINAL and s != JobState.QUEUED)
        return {
            "queued": counts[JobState.QUEUED.value],
            "running": running,
            "done": counts[JobState.DONE.value],
            "failed": counts[JobState.FAILED.value],
            "cancelled": counts[JobState.CANCELLED.value],
            "paused": self.scheduler.paused,
            "jobs_per_minute": self.scheduler.jobs_per_minute(),
            "backends_up": sum(1 for state in self.scheduler.backends.values() if state.up),
            "started_at": self.started_at,
        }
