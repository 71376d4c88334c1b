"""The scheduler: the worker loop's job logic, wired from small parts, each message routed to its part.

Runs on the worker loop's thread only. The parts (placement, following, reconciling, cancels, outputs)
share the job model's owners through `Shared`; backends are reached only through their command queues,
and what they report comes back as the typed messages of comfy/messages.py, matched here exhaustively.

Every message and every timer about a job runs under `guard`: an exception while handling it is logged with
the job's id and fails that job with error code `internal` (published like any failure); the worker keeps
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
from pixflow.comfy.backend import Post
from pixflow.config import Settings
from pixflow.errors import ErrorCode, RequestError
from pixflow.jobs.dispatch import ON_BACKEND, DispatchBook, Phase
from pixflow.jobs.job import Job
from pixflow.jobs.machine import JobMachine
from pixflow.jobs.registry import JobRegistry
from pixflow.jobs.store import JobStore
from pixflow.jobs.tracker import JobTracker
from pixflow.publisher import Publisher
from pixflow.scheduling.backends import BackendState, make_backends
from pixflow.scheduling.cancels import Canceller
from pixflow.scheduling.context import Schedule, Shared
from pixflow.scheduling.eta import EtaLearner, FinishRate
from pixflow.scheduling.following import Follower
from pixflow.scheduling.outputs import OutputSaver
from pixflow.scheduling.placement import Placement
from pixflow.scheduling.reconcile import Reconciler
from pixflow.vocabulary import STAGES, TERMINAL, TOPIC_BACKEND, TOPIC_STATE, JobState, now_ms
from pixflow.workflows import Workflow
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
        publisher: Publisher,
        post: Post,
        schedule: Schedule,
    ) -> None:
        self.settings = settings
        self.workflows = workflows
        self.store = store
        self.publisher = publisher
        self.registry = JobRegistry(settings.max_finished_jobs)
        self.machine = JobMachine(self._on_state_change)
        self.book = DispatchBook()
        self.backends: dict[str, BackendState] = make_backends(settings, post)
        self.shared = Shared(
            settings, store, publisher, self.registry, self.machine, self.book, self.backends, schedule, self.guard
        )
        self._saver = OutputSaver(self.shared)
        self._follower = Follower(self.shared, self._saver)
        self._placement = Placement(self.shared)
        self._reconciler = Reconciler(self.shared, self._follower, self._saver, self._placement)
        self._canceller = Canceller(self.shared)
        self.eta = EtaLearner(store, next(iter(self.backends)))
        self.finish_rate = FinishRate()
        self.paused = store.get_meta("paused") == "1"

    @property
    def tracker(self) -> JobTracker:
        return self._follower.tracker

    # Start and stop.
    def recover(self) -> None:
        """Load what the store holds: recent finished jobs for status, unfinished ones to carry on."""
        for job in self.store.recent_finished(self.workflows, self.settings.max_finished_jobs):
            self.registry.add(job, queue=False)
            self.registry.mark_finished(job)
        for job in self.store.unfinished(self.workflows):
            job.seq += SEQ_SKIP_AFTER_RESTART
            job.tracking = self.eta.tracking_for(job)
            self.registry.add(job, queue=job.phase == Phase.WAITING)
            self.machine.add(job, job.job_state)
            if job.phase in ON_BACKEND and job.backend not in self.backends:
                self.shared.fail(job, "backend_removed", f"backend {job.backend!r} is no longer configured")
                continue
            self.book.adopt(job)  # RECONCILING: asked where it is once its backend connects
            self.store.save(job)
        if len(self.machine):
            log.info("recovered %d unfinished jobs", len(self.machine))

    def start(self) -> None:
        for state in self.backends.values():
            state.backend.start()

    def stop(self) -> None:
        for state in self.backends.values():
            state.backend.stop()

    # Requests.
    def find(self, job_id: str) -> Job | None:
        return self.registry.get(job_id) or self.store.get(job_id, self.workflows)

    def create_job(self, job_id: str, params: GenerateParams, workflow: Workflow) -> Job:
        if self.registry.queued_count() >= self.settings.max_queued:
            raise RequestError(
                ErrorCode.QUEUE_FULL, f"the queue holds {self.settings.max_queued} jobs, its limit; try again later"
            )
        job = Job(job_id, params, workflow, workflow.fill(params), prompt_id=str(uuid.uuid4()))
        job.tracking = self.eta.tracking_for(job)
        self.store.insert(job)  # committed before the `accepted` reply
        self.registry.add(job)
        self.machine.add(job)
        # The creation event carries what a dashboard shows, so a subscriber needs no `status` per new job.
        created = {"from": None, "to": job.state, "params": job.params.to_wire(), "workflow": workflow.name}
        self.publisher.job_event(TOPIC_STATE, job, created)
        return job

    def cancel_job(self, job: Job) -> None:
        self._canceller.cancel(job)

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.store.set_meta("paused", "1" if paused else "0")

    def known_models(self) -> set[str]:
        return {model for state in self.backends.values() for model in state.models}

    def jobs_per_minute(self) -> int:
        return self.finish_rate.per_minute()

    def describe_backends(self) -> list[dict[str, Any]]:
        return [state.describe(self.book.inflight(name)) for name, state in self.backends.items()]

    # The loop's turns.
    def dispatch(self) -> None:
        if not self.paused:
            self._placement.dispatch()

    def check_stalls(self) -> None:
        self._reconciler.check_stalls()

    def on_message(self, message: m.LoopMessage) -> None:
        what = type(message).__name__
        match message:
            case m.BackendEvent(backend=name, event=event):
                state = self.backends[name]
                job = self._follower.job_of(state, event)
                self.guard(job, type(event).__name__, functools.partial(self._follower.on_event, state, event))
            case m.BackendUp() | m.BackendDown() | m.BackendInfo():
                self.guard(None, what, functools.partial(self._on_health, message))
            case _:
                found = self.registry.get(message.job_id)
                if found is not None and not found.finished:
                    self.guard(found, what, functools.partial(self._on_job_result, found, message))

    def _on_job_result(self, job: Job, result: m.JobResult) -> None:
        match result:
            case m.Submitted() | m.SubmitRejected() | m.SubmitFailed():
                self._placement.on_result(job, result)
            case m.PromptFinished() | m.PromptWaiting() | m.PromptUnknown() | m.ReconcileFailed():
                self._reconciler.on_result(job, result)
            case m.CancelChecked():
                self._canceller.on_result(job, result)
            case m.OutputsSaved() | m.OutputsFailed():
                self._saver.on_result(job, result)
            case m.CommandFailed():
                raise RuntimeError(f"a backend thread failed: {result.reason}")
            case _:
                assert_never(result)

    def _on_health(self, message: m.HealthMessage) -> None:
        state = self.backends[message.backend]
        match message:
            case m.BackendUp():
                reconnected = state.client_id is not None or state.up is False
                state.client_id = message.client_id
                state.running_prompt = None  # whatever runs now, its events go to the old socket
                changed, state.up, state.reason = state.up is not True, True, None
                state.last_frame = time.monotonic()
                state.backend.refresh_info()
                self._reconciler.on_backend_up(state, reconnected)
            case m.BackendDown():
                changed, state.up, state.reason = state.up is not False, False, message.reason
                state.client_id = None
                if changed:
                    log.warning("backend %s: %s; jobs wait until it is back", state.name, message.reason)
            case m.BackendInfo():
                state.models, state.version = message.models, message.version
                changed = True
            case _:
                assert_never(message)
        if changed:
            self.publisher.publish(f"{TOPIC_BACKEND}{state.name}", state.describe(self.book.inflight(state.name)))

    # The guard.
    def guard(self, job: Job | None, what: str, step: Callable[[], None]) -> None:
        """Run one step of the loop's work about `job`; a bug in it fails that job, never the worker."""
        try:
            step()
        except Exception as e:
            if job is None:
                log.exception("%s failed", what)
                return
            log.exception("job %s: %s failed", job.job_id, what)
            self._fail_internal(job, what, e)

    def _fail_internal(self, job: Job, what: str, error: Exception) -> None:
        if job.finished:
            return
        try:
            if job.phase in ON_BACKEND and job.backend in self.backends:
                self.backends[job.backend].backend.cancel(job.job_id, job.prompt_id)  # free the GPU it would take
            self.shared.fail(
                job, ErrorCode.INTERNAL.value, f"internal error in {what}: {type(error).__name__}: {error}"
            )
        except Exception:
            log.exception("job %s: could not record its internal failure", job.job_id)

    # State changes.
    def _on_state_change(self, job: Job, source: JobState, dest: JobState) -> None:
        now = now_ms()
        job.state_times[dest.value] = now
        if dest in STAGES and job.tracking is not None:
            job.tracking.on_stage(dest)
        fields: dict[str, Any] = {"from": source.value, "to": dest.value, "passes": job.passes, "backend": job.backend}
        fields.update(job.progress_view())
        if dest in TERMINAL:
            job.finished_at = now
            self.book.move(job, Phase.ENDED)
            self.registry.mark_finished(job)
            if dest == JobState.FAILED:
                fields["error"] = job.error
            if dest == JobState.DONE:
                fields["outputs"] = job.outputs
                self.eta.learn(job)
                self.finish_rate.add()
            job.tracking, job.graph, job.node_outputs = None, {}, {}  # the store keeps the graph
        self.publisher.job_event(TOPIC_STATE, job, fields)
        self.store.save(job)
