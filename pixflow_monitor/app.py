"""pixflow-monitor: the operator's dashboard of a pixflow worker (docs/monitor.md).

The link threads (pixflow_monitor/link.py) read events and answer requests off the UI thread and post messages here;
this app merges them into the model and redraws what changed at most `refresh_interval` apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Footer
from textual.worker import get_current_worker

from pixflow_monitor import commands
from pixflow_monitor.actions import Actions
from pixflow_monitor.clock import Clock, SystemClock
from pixflow_monitor.job_view import LogEntry
from pixflow_monitor.link import Link
from pixflow_monitor.messages import (
    EventsReceived,
    JobHighlighted,
    LinkDown,
    LinkUp,
    ReplyReceived,
    RequestFailed,
    WorkerRestarted,
)
from pixflow_monitor.metrics import UiMetrics
from pixflow_monitor.model import MonitorModel
from pixflow_monitor.request import Request, is_error
from pixflow_monitor.resync import Resync
from pixflow_monitor.screens import FILTER_TITLES
from pixflow_monitor.view import visible_jobs
from pixflow_monitor.widgets.backends import BackendsPanel
from pixflow_monitor.widgets.connection_bar import ConnectionBar
from pixflow_monitor.widgets.event_log import EventLog
from pixflow_monitor.widgets.job_detail import JobDetail
from pixflow_monitor.widgets.jobs_table import JobsTable
from pixflow_monitor.widgets.pixel_image import PixelImage
from pixflow_monitor.widgets.throughput import ThroughputPanel

MAX_STATUS_IN_FLIGHT = 200  # `status` requests for jobs the monitor wants to know more about


class MonitorApp(Actions, App[None]):
    CSS_PATH = "monitor.tcss"
    TITLE = "pixflow-monitor"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel_job", "Cancel"),
        Binding("r", "retry_job", "Retry"),
        Binding("p", "pause", "Pause"),
        Binding("u", "resume", "Resume"),
        Binding("d", "drain_backend", "Drain"),
        Binding("x", "disable_backend", "Disable", show=False),
        Binding("e", "enable_backend", "Enable"),
        Binding("f", "filter", "Filter"),
        Binding("g", "group_filter", "Group", show=False),
        Binding("slash", "find", "Find id", key_display="/"),
        Binding("w", "workflows", "Workflows", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        link: Link,
        clock: Clock | None = None,
        keep_finished: float = 60.0,
        refresh_interval: float = 0.1,
        image_class: Callable[..., Widget] | None = None,
        read_output: Callable[[str], bytes] | None = None,
    ) -> None:
        super().__init__()
        self.link = link
        self.clock: Clock = clock or SystemClock()
        self.keep_finished_ms = int(keep_finished * 1000)
        self.refresh_interval = refresh_interval
        self.image_class = image_class or PixelImage
        self.read_output = read_output or read_file
        self.model = MonitorModel(self.clock)
        self.resync = Resync(self.model)
        self.metrics = UiMetrics()
        self.filter = "all"
        self.link_state = "connecting"  # connecting, up, down
        self.link_reason = ""
        self.last_contact: int | None = None
        self.selected: str | None = None
        self.pinned: str | None = None  # a job looked up with / stays in view
        self.answers: list[str] = []  # what the worker answered to the operator's actions, newest last
        self._asking: set[str] = set()  # jobs with a `status` in flight
        self._last_second: int | None = None
        self._dirty_view = True
        self._select_after_sync: str | None = None

    def compose(self) -> ComposeResult:
        yield ConnectionBar(id="connection")
        with Horizontal(id="main"):
            yield JobsTable(id="jobs")
            yield JobDetail(self.image_class, self.clock, self.read_output, self.fetch_output, id="detail")
        with Horizontal(id="bottom"):
            yield BackendsPanel(id="backends")
            yield ThroughputPanel(id="throughput")
            yield EventLog(id="log")
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self._read_events, thread=True, name="events", group="link")
        self.run_worker(self._serve_requests, thread=True, name="requests", group="link")
        # The dashboard's widgets, held here: modal screens (help, filter, find) cover them but they keep updating.
        self.table = self.query_one(JobsTable)
        self.detail = self.query_one(JobDetail)
        self.backends_panel = self.query_one(BackendsPanel)
        self.throughput_panel = self.query_one(ThroughputPanel)
        self.event_log = self.query_one(EventLog)
        self.connection_bar = self.query_one(ConnectionBar)
        self.set_interval(self.refresh_interval, self.refresh_views)
        self.table.focus()
        self.refresh_views()

    # The link threads: they only post messages.
    def _read_events(self) -> None:
        self.link.run_events(self.post_message, get_current_worker().cancelled_event)

    def _serve_requests(self) -> None:
        self.link.run_requests(self.post_message, get_current_worker().cancelled_event)

    def send(self, requests: list[Request]) -> None:
        for request in requests:
            if request.purpose == "snapshot" and request.job_id:
                self._asking.add(request.job_id)
            self.link.request(request)

    # Messages from the link.
    def on_events_received(self, message: EventsReceived) -> None:
        self.model.apply_events(message.events)
        self.metrics.batch([ts for _, event in message.events if isinstance(ts := event.get("ts"), int)])
        if self.model.restart_pending:  # a worker.stats event showed another started_at
            self.model.restart_pending = False
            self._resync_after_restart()

    def on_worker_restarted(self, message: WorkerRestarted) -> None:
        if self.model.note_started_at(message.started_at):  # not already noticed through worker.stats
            self._resync_after_restart()

    def _resync_after_restart(self) -> None:
        """The worker restarted without the link going down: events were lost, read everything again (when the
        link is down, LinkUp does it)."""
        if self.link_state == "up":
            self._asking.clear()
            self.send(self.resync.begin())
        self._dirty_view = True

    def on_link_up(self, _: LinkUp) -> None:
        self.link_state, self.last_contact = "up", self.clock.now_ms()
        self._note(f"connected to {self.link.req_addr}; reading the worker's state")
        self._asking.clear()
        self.send(self.resync.begin())
        self._dirty_view = True

    def on_link_down(self, message: LinkDown) -> None:
        self.link_state, self.link_reason = "down", message.reason
        self._note(f"the worker is unreachable: {message.reason}; reconnecting", "error")
        self._dirty_view = True

    def on_reply_received(self, message: ReplyReceived) -> None:
        request, reply = message.request, message.reply
        self.last_contact = self.clock.now_ms()
        if request.purpose.startswith("resync."):
            self.send(self.resync.on_reply(request, reply))
            if request.purpose == "resync.finished" and request.generation == self.resync.generation:
                active = sum(1 for job in self.model.jobs.values() if not job.finished)
                self._note(f"in sync: {len(self.model.jobs)} jobs known, {active} active")
        elif request.purpose == "snapshot":
            self._take_snapshot(request, reply)
        elif request.purpose == "fetch.output":
            self._take_image(request, reply, "")
        elif request.purpose.startswith("action."):
            self._take_answer(request, reply)

    def on_request_failed(self, message: RequestFailed) -> None:
        request = message.request
        if request.job_id:
            self._asking.discard(request.job_id)
        if request.purpose == "snapshot" and request.job_id in self.model.jobs:
            self.model.wanted.add(request.job_id)  # asked again once the worker answers
        if request.purpose == "fetch.output":
            self._take_image(request, None, f"{message.code}: {message.message}")
        if request.purpose.startswith("action."):
            self.answer(*commands.describe_failure(request, message.code, message.message))

    # Images over the wire, for a monitor on another host than the worker's outputs (docs/monitor.md).
    def fetch_output(self, job_id: str, index: int, max_side: int) -> None:
        fields = {"job_id": job_id, "index": index, "max_side": max_side}
        self.send([Request("fetch_output", fields, purpose="fetch.output")])  # no job_id: it is not a `status`

    def _take_image(self, request: Request, reply: dict[str, Any] | None, problem: str) -> None:
        job_id, index = request.fields.get("job_id"), request.fields.get("index")
        if not isinstance(job_id, str) or not isinstance(index, int):
            return
        if self.detail.take_fetched(job_id, index, reply, problem) and job_id == self.selected:
            self.detail.show(self.model.jobs.get(job_id))

    def _take_snapshot(self, request: Request, reply: dict[str, Any]) -> None:
        assert request.job_id is not None
        self._asking.discard(request.job_id)
        if reply.get("type") == "job":
            self.model.apply_snapshot(reply)
        elif is_error(reply) and reply.get("code") == "not_found":
            self.model.forget(request.job_id)

    def _note(self, text: str, level: str = "info") -> None:
        self.model.log.append(LogEntry(self.clock.now_ms(), text, level))

    def on_job_highlighted(self, message: JobHighlighted) -> None:
        job_id = message.job_id
        if job_id == self.selected or not self.detail.is_attached:  # the same job, or the app is closing
            return
        self.selected = job_id
        job = self.model.jobs.get(job_id) if job_id else None
        if job is not None and not job.has_snapshot:
            self.model.wanted.add(job.job_id)
        self.detail.show(job)

    # Drawing.
    def refresh_views(self) -> None:
        if not self.table.is_attached:  # the app is closing
            return
        started = time.perf_counter()
        now = self.clock.now_ms()
        second = now // 1000
        new_second = second != self._last_second
        self._last_second = second
        self._ask_wanted()
        model = self.model
        table = self.table
        changed = model.changed_jobs
        if changed or new_second or self._dirty_view:
            keep = {job_id for job_id in (self.selected, self.pinned) if job_id}
            table.sync(visible_jobs(model.jobs.values(), self.filter, now, self.keep_finished_ms, keep), now)
            if self._select_after_sync is not None:
                table.select_job(self._select_after_sync)
                self._select_after_sync = None
            held = len(model.jobs)
            stale = " · NOT LIVE" if self.link_state == "down" else ""
            shown_filter = FILTER_TITLES.get(self.filter, self.filter)  # a group filter shows as `group:<id>`
            title = f"Jobs: {table.row_count} shown of {held} held · filter: {shown_filter}{stale}"
            table.border_title = title
        selected = model.jobs.get(self.selected) if self.selected else None
        if self.selected in changed or (selected is not None and new_second and not selected.finished):
            self.detail.show(selected)
        if model.changed_panels & {"backends", "worker"} and selected is not None and selected.state == "queued":
            self.model.wanted.add(selected.job_id)  # its wait_reason may have changed with the pool or a pause
        if model.changed_panels & {"stats", "backends"}:
            up = model.stats.get("backends_up") if model.stats else None
            self.backends_panel.show(model.backends, up if isinstance(up, int) else None)
        if model.changed_panels & {"stats", "worker"} or new_second:
            self.throughput_panel.show(model.throughput(), model.counts())
        if new_second or self._dirty_view or "worker" in model.changed_panels:
            self._show_connection(now)
        self.event_log.add(model.take_log(), self.clock.wall_time)
        if new_second and second % 10 == 0:
            model.prune(keep={job_id for job_id in (self.selected, self.pinned) if job_id})
        changed.clear()
        model.changed_panels.clear()
        self._dirty_view = False
        self.metrics.refreshed(started)

    def _show_connection(self, now: int) -> None:
        self.connection_bar.show(
            self.link_state,
            self.link.req_addr,
            self.link.pub_addr,
            self.model.worker,
            self.link_reason,
            self.model.paused,
            now,
            self.last_contact,
        )

    def _ask_wanted(self) -> None:
        wanted = self.model.wanted - self._asking
        room = MAX_STATUS_IN_FLIGHT - len(self._asking)
        if self.link_state != "up" or not wanted or room <= 0:
            return
        batch = sorted(wanted)[:room]
        self.model.wanted.difference_update(batch)
        self.send([Request("status", {"job_id": job_id}, purpose="snapshot", job_id=job_id) for job_id in batch])


def read_file(path: str) -> bytes:
    """Saved outputs are read where the worker wrote them (the monitor runs next to the generation box)."""
    return Path(path).read_bytes()
