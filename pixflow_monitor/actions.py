"""The operator's actions (bound to keys in MonitorApp.BINDINGS) and how the worker's answers are shown.

Every action asks the worker and shows what it answered, or that it did not answer; nothing is assumed.
A mixin of MonitorApp: it works on the app's model, table and link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.notifications import SeverityLevel

from pixflow_monitor import commands
from pixflow_monitor.job_view import LogEntry
from pixflow_monitor.metrics import wall_ms
from pixflow_monitor.model import MonitorModel
from pixflow_monitor.request import Request, is_error
from pixflow_monitor.screens import BackendScreen, FilterScreen, FindScreen, HelpScreen
from pixflow_monitor.view import GROUP_FILTER
from pixflow_monitor.widgets.jobs_table import JobsTable
from pixflow_monitor.workflows_view import WorkflowsScreen

if TYPE_CHECKING:
    from textual.app import App

    _Base = App[None]  # the mixin uses the app's screens and notifications
else:
    _Base = object


class Actions(_Base):
    model: MonitorModel
    table: JobsTable
    filter: str
    pinned: str | None
    answers: list[str]
    _dirty_view: bool
    _select_after_sync: str | None

    def send(self, requests: list[Request]) -> None:
        raise NotImplementedError

    def refresh_views(self) -> None:
        raise NotImplementedError

    def _take_answer(self, request: Request, reply: dict[str, Any]) -> None:
        if request.purpose == "action.retry-lookup" and not is_error(reply):
            self.model.apply_snapshot(reply)
            if reply.get("state") not in commands.RETRYABLE:
                self.answer(
                    f"retry {request.job_id}: the worker says it is {reply.get('state')}; nothing sent", "warning"
                )
                return
            self.send([commands.retry_generate(reply, commands.retry_id(str(request.job_id)))])
            return
        if request.purpose == "action.workflows" and reply.get("type") == "workflows":
            self.push_screen(WorkflowsScreen(reply))
            return
        if reply.get("type") == "job":
            self.model.apply_snapshot(reply)
        if reply.get("type") == "worker":
            self.model.apply_worker_status(reply, received_at=wall_ms())
        if reply.get("type") == "backend":  # as new as its backend.<name> event, which may still be on its way
            self.model.apply_backend_figures(reply)
        if request.purpose == "action.find" and reply.get("type") == "job":
            self.pinned = self._select_after_sync = request.job_id
            self._dirty_view = True
        if request.purpose == "action.retry" and reply.get("type") == "accepted" and reply.get("job_id"):
            self.model.wanted.add(str(reply["job_id"]))
        self.answer(*commands.describe(request, reply))

    def answer(self, text: str, severity: SeverityLevel) -> None:
        """Show the worker's answer to an action: in the log and as a notification."""
        self.answers.append(text)
        level = "error" if severity == "error" else "action"
        self.model.log.append(LogEntry(self.model.clock.now_ms(), text, level))
        self.notify(text, severity=severity, timeout=8)

    # Actions.
    def action_cancel_job(self) -> None:
        if (job_id := self._selected_or_say("cancel")) is not None:
            self.send([commands.cancel(job_id)])

    def action_retry_job(self) -> None:
        if (job_id := self._selected_or_say("retry")) is not None:
            self.send([commands.retry_lookup(job_id)])

    def action_pause(self) -> None:
        self.send([commands.pause()])

    def action_resume(self) -> None:
        self.send([commands.resume()])

    def action_drain_backend(self) -> None:
        self._choose_backend("drain")

    def action_disable_backend(self) -> None:
        self._choose_backend("disable")

    def action_enable_backend(self) -> None:
        self._choose_backend("enable")

    def _choose_backend(self, verb: str) -> None:
        """Ask which backend (the selected job's is offered first; for enable, the first one not active), then
        send the request; the worker's answer is shown like every other."""
        backends = self.model.backends
        if not backends:
            self.notify(f"{verb}: no backend known yet", severity="warning")
            return
        job_id = self.table.selected_job_id
        job = self.model.jobs.get(job_id) if job_id is not None else None
        preferred = job.backend if job is not None else None
        if verb == "enable":
            held = [name for name in sorted(backends) if backends[name].get("mode") not in (None, "active")]
            preferred = held[0] if held else preferred

        def chosen(name: str | None) -> None:
            if name:
                self.send([commands.backend_mode(verb, name)])

        self.push_screen(BackendScreen(verb, backends, preferred), chosen)

    def action_filter(self) -> None:
        self.push_screen(FilterScreen(self.filter), self._set_filter)

    def action_group_filter(self) -> None:
        """Only the selected job's `compare` group; pressed again (or on a job in no group), every job."""
        job_id = self.table.selected_job_id
        job = self.model.jobs.get(job_id) if job_id is not None else None
        if self.filter.startswith(GROUP_FILTER):
            self._set_filter("all")
        elif job is not None and job.group_id is not None:
            self._set_filter(f"{GROUP_FILTER}{job.group_id}")
        else:
            self.notify("group filter: select a job of a compare group first", severity="warning")

    def action_find(self) -> None:
        self.push_screen(FindScreen(), self._find)

    def action_workflows(self) -> None:
        self.send([commands.list_workflows()])

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def _set_filter(self, choice: str | None) -> None:
        if choice is not None and choice != self.filter:
            self.filter = choice
            self._dirty_view = True
            self.refresh_views()

    def _find(self, job_id: str | None) -> None:
        if job_id:
            self.send([commands.find(job_id)])

    def _selected_or_say(self, action: str) -> str | None:
        job_id = self.table.selected_job_id
        if job_id is None:
            self.notify(f"{action}: select a job first", severity="warning")
        return job_id
