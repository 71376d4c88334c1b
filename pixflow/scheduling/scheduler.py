"""The scheduler: the worker loop's job logic, wired from small parts, each message routed to its part.

Runs on the worker loop's thread only. What happens to a job is decided by one table (jobs/life.py) and carried out
by its shell (life_shell.py); the parts here decide which job and when: placement, following a backend's events,
reconciling, moving prompts between backends, the pool. They share the job model's owners through `Shared`;
backends are reached only through their command lanes, and what they report comes back as the typed messages of
comfy/messages.py, matched here exhaustively.

Every message and every timer about a job runs under the shell's `guard`: an exception while handling it is logged
with the job's id and fails that job with error code `internal` (published like any failure); the worker keeps
serving every other job.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, assert_never

from pixflow.comfy import messages as m
from pixflow.comfy.backend import LoopLink, Post
from pixflow.errors import ErrorCode, RequestError
from pixflow.jobs.dispatch import ON_BACKEND, DispatchBook, Phase
from pixflow.jobs.job import Job
from pixflow.jobs.life import Event
from pixflow.jobs.registry import JobRegistry
from pixflow.jobs.store import JobStore
from pixflow.loop.outbox import Outbox
from pixflow.loop.sink import EventSink
from pixflow.loop.watcher import Schedule, Watcher
from pixflow.scheduling import job_log
from pixflow.scheduling.answers import event_of
from pixflow.scheduling.backends import BackendState, Health, Mode, make_backends
from pixflow.scheduling.context import Shared
from pixflow.scheduling.eta import EtaLearner, FinishRate
from pixflow.scheduling.following import Follower
from pixflow.scheduling.life_shell import Hooks, JobLife
from pixflow.scheduling.moves import Moves
from pixflow.scheduling.placement import PAUSED_REASON, Placement
from pixflow.scheduling.pool import PoolControl
from pixflow.scheduling.reconcile import Reconciler
from pixflow.settings import BackendSettings, Settings
from pixflow.vocabulary import TOPIC_STATE, JobState
from pixflow.workflows import Workflow
from pixflow.workflows.checks import fitness
from pixflow.workflows.params import GenerateParams

log = logging.getLogger(__name__)

# After a restart, event numbers jump past any that were published but not yet written down.
SEQ_SKIP_AFTER_RESTART = 10_000


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        workflows: dict[str, Workflow],
        store: JobStore,
        publisher: EventSink,
        post: Post,
        schedule: Schedule,
        on_job_end: Callable[[Job], None] = lambda job: None,
        outbox: Outbox | None = None,
        watcher: Watcher | None = None,
    ) -> None:
        self.settings = settings
        self.workflows = workflows
        self.store = store
        self.publisher = publisher
        self.registry = JobRegistry(settings.max_finished_jobs)
        self.book = DispatchBook()
        # The backends' WebSockets are read on the loop (watcher), their events handled at once (on_message).
        link = LoopLink(post, self.on_message, schedule, watcher or Watcher(), outbox or Outbox())
        self.backends: dict[str, BackendState] = make_backends(settings, link)
        hooks = Hooks(done=self._learn_from, ended=on_job_end)
        self.life = JobLife(settings, store, publisher, self.registry, self.book, self.backends, schedule, hooks)
        self.shared = Shared(settings, publisher, self.registry, self.book, self.backends, schedule, self.life)
        self._follower = Follower(self.shared)
        self._placement = Placement(self.shared)
        self._moves = Moves(self.shared, self._placement)
        self._reconciler = Reconciler(self.shared)
        self.pool = PoolControl(self.shared, self._moves, link)
        self.eta = EtaLearner(store, next(iter(self.backends)))
        self.finish_rate = FinishRate()
        self.paused = store.get_meta("paused") == "1"

    # Start and stop.
    def recover(self) -> None:
        """Load what the store holds: recent finished jobs for status, unfinished ones to carry on."""
        for job in self.store.recent_finished(self.workflows, self.settings.max_finished_jobs):
            self.registry.add(job, queue=False)
            self.registry.mark_finished(job)
        recovered = 0
        for job in self.store.unfinished(self.workflows):
            recovered += 1
            job.seq += SEQ_SKIP_AFTER_RESTART
            job.tracking = self.eta.tracking_for(job)
            self.registry.add(job, queue=job.phase == Phase.WAITING)
            self.book.place(job.job_id, job.phase, job.backend)  # RECONCILING: asked where once its backend is up
            if job.phase in ON_BACKEND and job.backend not in self.backends:
                # Its backend left the settings while the worker was down: nothing can reach its copy there, so the
                # job runs again from the start elsewhere under a new prompt id (or ends, if it was being cancelled).
                log.warning("job %s: its backend %r is no longer configured; placing it again", job.job_id, job.backend)
                self.life.handle(job, Event.BACKEND_GONE)
                continue
            self.store.save(job)
        if recovered:
            log.info("recovered %d unfinished jobs", recovered)

    def start(self) -> None:
        for state in self.backends.values():
            state.backend.start()

        def refresh() -> None:
            self.pool.refresh_capabilities()
            self.shared.schedule(self.settings.info_refresh_interval, refresh)

        self.shared.schedule(self.settings.info_refresh_interval, refresh)

    def stop(self) -> None:
        for state in self.backends.values():
            state.backend.stop()

    def reload_backends(self, wanted: tuple[BackendSettings, ...]) -> None:
        self.pool.reload(wanted)

    # Requests.
    def find(self, job_id: str) -> Job | None:
        return self.registry.get(job_id) or self.store.get(job_id, self.workflows)

    def create_job(self, job_id: str, params: GenerateParams, workflow: Workflow, group_id: str | None = None) -> Job:
        if self.registry.queued_count() >= self.settings.max_queued:
            raise RequestError(
                ErrorCode.QUEUE_FULL, f"the queue holds {self.settings.max_queued} jobs, its limit; try again later"
            )
        job = Job(job_id, params, workflow, workflow.fill(params), prompt_id=str(uuid.uuid4()), group_id=group_id)
        job.tracking = self.eta.tracking_for(job)
        self.store.insert(job)  # committed before the `accepted` reply
        self.registry.add(job)
        if self.paused:
            job.wait_reason = PAUSED_REASON
        # The creation event carries what a dashboard shows, so a subscriber needs no `status` per new job.
        created = {
            "from": None,
            "to": job.state,
            "params": job.params.to_wire(),
            "workflow": workflow.name,
            "group_id": group_id,
            "owner": params.owner,
        }
        self.publisher.job_event(TOPIC_STATE, job, created)
        job_log.accepted(job)
        return job

    def cancel_job(self, job: Job) -> None:
        self.life.handle(job, Event.CANCEL_ASKED)

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.store.set_meta("paused", "1" if paused else "0")
        log.info("worker %s", "paused: no job leaves the queue" if paused else "resumed")
        self._placement.explain_waiting(paused)  # a snapshot says why at once, not at the next tick

    def known_models(self) -> set[str]:
        return {model for state in self.backends.values() for model in state.models}

    def jobs_per_minute(self) -> int:
        return self.finish_rate.per_minute()

    def describe_backends(self) -> list[dict[str, Any]]:
        return [state.describe(self.book.inflight(name)) for name, state in self.backends.items()]

    def set_backend_mode(self, name: object, mode: Mode) -> dict[str, Any]:
        state = self.pool.set_mode(name, mode)
        return state.describe(self.book.inflight(state.name))

    # The loop's turns.
    def dispatch(self) -> None:
        if not self.paused:
            self._placement.dispatch()
            self._moves.rebalance()

    def tick(self) -> None:
        """Every stats interval: stalled backends, drained backends to drop, changed backend figures."""
        self._reconciler.check_stalls()
        self._placement.explain_waiting(self.paused)
        self.pool.retire_drained()
        self.pool.publish_changes()

    def on_message(self, message: m.LoopMessage) -> None:
        what = type(message).__name__
        match message:
            case m.BackendEvent(backend=name, event=event):
                state = self.backends[name]
                job = self._follower.job_of(state, event)
                self.life.guard(job, type(event).__name__, functools.partial(self._follower.on_event, state, event))
            case m.BackendUp() | m.BackendDown() | m.BackendInfo():
                self.life.guard(None, what, functools.partial(self._on_health, message))
            case m.ControlDone(backend=name, result=result):
                if result is not None:
                    self.on_message(result)
                owner = self.backends.get(name)
                if owner is not None and owner.backend is message.origin:  # not a backend of that name since
                    owner.backend.control_done()  # its next control command may start
            case _:
                found = self.registry.get(message.job_id)
                if found is not None and not found.finished:
                    self.life.guard(found, what, functools.partial(self._on_job_result, found, message))

    def _on_job_result(self, job: Job, result: m.JobResult) -> None:
        event, given = event_of(result)
        url, backend, prompt_id, attempt = self._url_of(job), job.backend, job.prompt_id, job.attempts + 1
        if event == Event.LOOKUP_FAILED and job.phase == Phase.RECONCILING:
            log.warning("job %s: cannot reconcile yet: %s", job.job_id, given.reason)
        rule = self.life.handle(job, event, given)
        if rule.state == JobState.QUEUED:  # taken back to be sent again: say why
            if event == Event.SEND_FAILED:
                log.warning("job %s waits: %s", job.job_id, given.reason)
            elif event == Event.FOUND_NOTHING:
                log.warning(
                    "job %s: ComfyUI at %s does not know prompt %s; sending it again (attempt %d)",
                    job.job_id,
                    url,
                    prompt_id,
                    attempt,
                )
            elif event == Event.WITHDRAWN:
                log.info("job %s: taken out of %s's queue to run sooner elsewhere", job.job_id, backend)

    def _url_of(self, job: Job) -> str | None:
        state = self.backends.get(job.backend or "")
        return state.backend.url if state is not None else None

    def _on_health(self, message: m.HealthMessage) -> None:
        state = self.backends.get(message.backend)
        if state is None:
            if isinstance(message, m.BackendUp) and message.events is not None:
                message.events.close()
            return  # a backend removed from the pool, still saying goodbye
        match message:
            case m.BackendUp():
                if message.events is not None:
                    state.backend.attach(message.events)  # read on the loop from now on (its first frames later)
                reconnected = state.client_id is not None or state.health == Health.DOWN
                if state.health != Health.UP:  # its first connection, or back after being down: one line each
                    log.info("backend %s: %s at %s", state.name, "up again" if reconnected else "up", state.backend.url)
                state.client_id = message.client_id
                state.running_prompt = None  # whatever runs now, its events go to the old socket
                state.health, state.reason = Health.UP, None
                state.last_frame = time.monotonic()
                state.backend.refresh_info()
                self._moves.on_up(state)
                self._reconciler.on_backend_up(state, reconnected)
            case m.BackendDown():
                if state.health != Health.DOWN:
                    log.warning("backend %s: %s", state.name, message.reason)
                state.health, state.reason, state.client_id = Health.DOWN, message.reason, None
                self._moves.on_down(state)
            case m.BackendInfo():
                if message.capabilities is not None and message.capabilities != state.capabilities:
                    state.capabilities = message.capabilities
                    self._report_unrunnable_workflows()
            case _:
                assert_never(message)
        self.pool.publish_changes()

    def _report_unrunnable_workflows(self) -> None:
        """Once every backend has said what it offers, name each workflow no backend can run, and what is missing."""
        pool = [(name, state.capabilities) for name, state in self.backends.items()]
        if any(caps is None for _, caps in pool):
            return
        for workflow in self.workflows.values():
            fit = fitness(workflow, pool)
            if not fit.runnable:
                log.warning("%s", fit.reason(workflow.name))

    def _learn_from(self, job: Job) -> None:
        """A job is done: the ETA of its shape, the jobs-per-minute figure and its backend's run times learn."""
        self.eta.learn(job)
        self.finish_rate.add()
        state = self.backends.get(job.backend or "")
        if state is not None and job.started_at is not None and job.finished_at is not None:
            state.learn((job.finished_at - job.started_at) / 1000, job.loads_model)
