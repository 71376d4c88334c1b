"""Job logic: creating, dispatching, following, recovering and cancelling jobs.

Runs on the worker loop's thread only. It owns the registry, the machine and the store, and talks to
backends through their command queues; results come back through Worker -> Scheduler.on_message.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pixflow import __version__
from pixflow.comfy import backend as bk
from pixflow.comfy import events as ce
from pixflow.comfy.history import outcome_of
from pixflow.comfy.nodes import DEFAULT_STAGE_OF_NODE
from pixflow.config import Settings
from pixflow.errors import ErrorCode, RequestError
from pixflow.inbox import Inbox
from pixflow.jobs.job import Job
from pixflow.jobs.machine import JobMachine
from pixflow.jobs.progress import EtaBook, JobProgress, job_shape, run_durations, sampler_steps_of
from pixflow.jobs.registry import JobRegistry
from pixflow.jobs.store import JobStore
from pixflow.jobs.tracker import JobTracker
from pixflow.protocol import now_ms
from pixflow.publisher import Publisher
from pixflow.vocabulary import STAGES, TERMINAL, TOPIC_BACKEND, TOPIC_OUTPUT, TOPIC_STATE, JobState
from pixflow.workflows import Workflow
from pixflow.workflows.params import GenerateParams

log = logging.getLogger(__name__)

RETRY_AFTER_SUBMIT_FAILURE = 1.0  # seconds a backend rests after a failed POST /prompt
# After a restart, event numbers jump past any that were published but not yet written down.
SEQ_SKIP_AFTER_RESTART = 10_000

Schedule = Callable[[float, Callable[[], None]], None]


@dataclass
class BackendState:
    backend: bk.Backend
    up: bool | None = None  # None: not heard from yet
    client_id: str | None = None
    reason: str | None = None
    models: list[str] = field(default_factory=list)
    version: str | None = None
    inflight: set[str] = field(default_factory=set)  # jobs handed to ComfyUI whose prompt has not ended
    running_prompt: str | None = None
    resting_until: float = 0.0
    last_frame: float = field(default_factory=time.monotonic)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.backend.name,
            "url": self.backend.url,
            "up": bool(self.up),
            "reason": self.reason,
            "version": self.version,
            "models": len(self.models),
            "inflight": len(self.inflight),
        }


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        workflows: dict[str, Workflow],
        store: JobStore,
        publisher: Publisher,
        inbox: Inbox,
        schedule: Schedule,
    ) -> None:
        self.settings = settings
        self.workflows = workflows
        self.store = store
        self.publisher = publisher
        self._schedule = schedule
        self.registry = JobRegistry(settings.max_finished_jobs)
        self.machine = JobMachine(self._on_state_change)
        self.tracker = JobTracker(self.machine, publisher, self._on_prompt_end)
        self.backends: dict[str, BackendState] = {
            b.name: BackendState(
                bk.Backend(
                    b.name,
                    b.url,
                    inbox,
                    settings.http_timeout,
                    settings.ws_ping_interval,
                    settings.ws_ping_timeout,
                    settings.fetch_workers,
                )
            )
            for b in settings.backends
        }
        self.paused = store.get_meta("paused") == "1"
        self.eta_book = EtaBook(store.eta_load())
        self.finish_times: deque[float] = deque()  # monotonic times of recent `done`, for jobs per minute

    # Start and stop.
    def recover(self) -> None:
        """Load what the store holds: recent finished jobs for status, unfinished ones to carry on."""
        for job in self.store.recent_finished(self.workflows, self.settings.max_finished_jobs):
            self.registry.add(job, queue=False)
            self.registry.mark_finished(job)
        for job in self.store.unfinished(self.workflows):
            job.seq += SEQ_SKIP_AFTER_RESTART
            job.tracking = self._tracking_for(job)
            self.registry.add(job, queue=not job.submitted)
            self.machine.add(job, job.job_state)
            if job.submitted:
                state = self.backends.get(job.backend or "")
                if state is None:
                    job.error = {
                        "code": "backend_removed",
                        "message": f"backend {job.backend!r} is no longer configured",
                    }
                    self.machine.fire(job, "fail")
                    continue
                state.inflight.add(job.job_id)
                job.reconciling = True  # asked where it is once its backend connects
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
        job.tracking = self._tracking_for(job)
        self.store.insert(job)  # committed before the `accepted` reply
        self.registry.add(job)
        self.machine.add(job)
        # The creation event carries what a dashboard shows, so a subscriber needs no `status` per new job.
        created = {"from": None, "to": job.state, "params": job.params.to_wire(), "workflow": workflow.name}
        self.publisher.job_event(TOPIC_STATE, job, created)
        return job

    def cancel_job(self, job: Job) -> None:
        job.cancel_requested = True
        if not job.submitted:
            self.machine.fire(job, "cancel")
            return
        self.store.save(job)
        self.backends[job.backend].backend.cancel(job.job_id, job.prompt_id)
        self._schedule(self.settings.cancel_timeout, lambda: self._escalate_cancel(job))

    def _escalate_cancel(self, job: Job) -> None:
        """No confirmation in time: interrupt whatever runs on that backend if it is still our prompt."""
        if job.finished:
            return
        state = self.backends[job.backend]
        if state.running_prompt == job.prompt_id or job.reconciling:
            log.warning(
                "job %s: no confirmation of the cancel after %ss; interrupting %s outright",
                job.job_id,
                self.settings.cancel_timeout,
                state.backend.url,
            )
            state.backend.interrupt_all()

    # Progress and ETA.
    def _shape(self, job: Job, backend: str | None) -> str:
        params = job.params
        return job_shape(job.workflow.name, params.model, params.width, params.height, params.steps, backend)

    def _tracking_for(self, job: Job) -> JobProgress:
        backend = job.backend or next(iter(self.backends))
        sampler_types = {
            t for t, s in {**DEFAULT_STAGE_OF_NODE, **job.workflow.stages}.items() if s == JobState.SAMPLING
        }
        return JobProgress(
            self.eta_book.estimate(self._shape(job, backend)), sampler_steps_of(job.graph, sampler_types)
        )

    def _learn(self, job: Job) -> None:
        if job.tracking is None:
            return
        durations = run_durations(job.state_times, sum(job.tracking.sampler_steps.values()))
        if durations:
            self.store.eta_save(self.eta_book.learn(self._shape(job, job.backend), durations))

    def jobs_per_minute(self) -> int:
        horizon = time.monotonic() - 60
        while self.finish_times and self.finish_times[0] < horizon:
            self.finish_times.popleft()
        return len(self.finish_times)

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.store.set_meta("paused", "1" if paused else "0")

    def known_models(self) -> set[str]:
        return {model for state in self.backends.values() for model in state.models}

    # Dispatch.
    def dispatch(self) -> None:
        if self.paused:
            return
        now = time.monotonic()
        for state in self.backends.values():
            if not state.up or state.client_id is None or now < state.resting_until:
                continue
            while len(state.inflight) < self.settings.max_inflight:
                job = self.registry.pop_next()
                if job is None:
                    return
                self._submit(state, job)

    def _submit(self, state: BackendState, job: Job) -> None:
        job.submitted = True
        job.backend = state.backend.name
        job.attempts += 1
        self.store.save(job)  # durable before the POST: after a crash, the job is reconciled, not re-sent blindly
        state.inflight.add(job.job_id)
        state.backend.submit(job.job_id, job.prompt_id, job.graph, state.client_id)

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
            job.reconciling = False
            self.registry.mark_finished(job)
            if job.backend is not None:
                self.backends[job.backend].inflight.discard(job.job_id)
            if dest == JobState.FAILED:
                fields["error"] = job.error
            if dest == JobState.DONE:
                fields["outputs"] = job.outputs
                self._learn(job)
                self.finish_times.append(time.monotonic())
            job.tracking, job.graph, job.node_outputs = None, {}, {}  # the store keeps the graph
        self.publisher.job_event(TOPIC_STATE, job, fields)
        self.store.save(job)

    def _on_prompt_end(self, job: Job) -> None:
        """ComfyUI has finished with this prompt: free its slot, then save or settle the job."""
        state = self.backends[job.backend]
        state.inflight.discard(job.job_id)
        job.reconciling = False
        if job.comfy_succeeded:
            job.saving_outputs = True
            job_dir = self.settings.output_dir / job.job_id
            # Outputs seen live in `executed` events spare a GET /history; after a reconnect, history it is.
            node_outputs = job.node_outputs if not job.reconciling else None
            state.backend.fetch_outputs(job.job_id, job.prompt_id, job_dir, self._sidecar(job), node_outputs)
        elif not job.finished:
            job.error = {"code": "no_outcome", "message": "ComfyUI ended the prompt without success or error"}
            self.machine.fire(job, "fail")

    def _sidecar(self, job: Job) -> dict[str, Any]:
        return {
            "pixflow_version": __version__,
            "job_id": job.job_id,
            "request": job.params.to_wire(),
            "seed": job.params.seed,
            "workflow": job.workflow.name,
            "graph": job.graph,
            "backend": {"name": job.backend, "url": self.backends[job.backend].backend.url},
            "prompt_id": job.prompt_id,
            "attempts": job.attempts,
            "timings": {
                "created_at": job.created_at,
                "started_at": job.started_at,
                "state_times": dict(job.state_times),
                "saved_at": now_ms(),
            },
        }

    # Messages from backend threads.
    def on_message(self, item: Any) -> None:
        match item:
            case bk.BackendEvent():
                self._on_backend_event(self.backends[item.backend], item.event)
            case bk.BackendUp() | bk.BackendDown() | bk.BackendInfo():
                self._on_backend_health(self.backends[item.backend], item)
            case _:
                job = self.registry.get(item.job_id)
                if job is not None and not job.finished:
                    self._on_job_result(job, item)

    def _on_backend_event(self, state: BackendState, event: ce.ComfyEvent) -> None:
        state.last_frame = time.monotonic()
        if isinstance(event, ce.Status):
            return
        if isinstance(event, ce.ExecutionStart):
            state.running_prompt = event.prompt_id
        # Type-1 previews and some progress messages name no prompt: they belong to the running one.
        job = self.registry.by_prompt(event.prompt_id or state.running_prompt)
        if isinstance(event, ce.Executing) and event.node is None and state.running_prompt == event.prompt_id:
            state.running_prompt = None
        if job is not None:
            job.reconciling = False  # its events reach us: nothing was missed from here on
            self.tracker.apply(job, event)
            if isinstance(event, ce.Progress):
                self.store.touch(job)

    def _on_backend_health(self, state: BackendState, item: Any) -> None:
        match item:
            case bk.BackendUp():
                reconnected = state.client_id is not None or state.up is False
                state.client_id = item.client_id
                state.running_prompt = None  # whatever runs now, its events go to the old socket
                changed, state.up, state.reason = state.up is not True, True, None
                state.last_frame = time.monotonic()
                state.backend.refresh_info()
                # ComfyUI replays nothing to a new socket: ask where each of our prompts is, oldest first, so
                # prompts it lost are sent again in their order.
                jobs = sorted(filter(None, map(self.registry.get, state.inflight)), key=lambda job: job.position)
                for job in jobs:
                    if (job.reconciling or reconnected) and not job.saving_outputs:
                        self._reconcile(job)
            case bk.BackendDown():
                changed, state.up, state.reason = state.up is not False, False, item.reason
                state.client_id = None
                if changed:
                    log.warning("backend %s: %s; jobs wait until it is back", state.backend.name, item.reason)
            case bk.BackendInfo():
                state.models, state.version = item.models, item.version
                changed = True
        if changed:
            self.publisher.publish(f"{TOPIC_BACKEND}{state.backend.name}", state.describe())

    def _reconcile(self, job: Job) -> None:
        job.reconciling = True
        self.backends[job.backend].backend.reconcile(job.job_id, job.prompt_id)

    def check_stalls(self) -> None:
        """A backend silent while it has prompts: its events may be going elsewhere; ask where they are."""
        now = time.monotonic()
        for state in self.backends.values():
            if state.up and state.inflight and now - state.last_frame > self.settings.stall_timeout:
                state.last_frame = now
                for job in sorted(filter(None, map(self.registry.get, state.inflight)), key=lambda job: job.position):
                    if not job.saving_outputs and not job.reconciling:
                        log.warning(
                            "job %s: no event from %s for %ss; reconciling",
                            job.job_id,
                            state.backend.url,
                            self.settings.stall_timeout,
                        )
                        self._reconcile(job)

    def _on_job_result(self, job: Job, item: Any) -> None:
        state = self.backends[job.backend] if job.backend else None
        match item:
            case bk.Submitted():
                log.debug("job %s submitted as prompt %s", job.job_id, job.prompt_id)
            case bk.SubmitRejected():
                state.inflight.discard(job.job_id)
                job.error = {
                    "code": "validation_error",
                    "message": _rejection_message(item.rejection.error, item.rejection.node_errors),
                    "comfy_error": item.rejection.error,
                    "node_errors": item.rejection.node_errors,
                }
                self.machine.fire(job, "fail")
            case bk.SubmitFailed():
                self._unsubmit(job, state)
                if job.cancel_requested:
                    self.machine.fire(job, "cancel")
                    return
                log.warning("job %s waits: %s", job.job_id, item.reason)
                state.resting_until = time.monotonic() + RETRY_AFTER_SUBMIT_FAILURE
            case bk.CancelChecked():
                if not item.in_comfy_queue and job.started_at is None and not job.reconciling:
                    state.inflight.discard(job.job_id)
                    self.machine.fire(job, "cancel")
            case bk.PromptFinished():
                self._finish_from_history(job, item.entry)
            case bk.PromptWaiting():
                # Its events go to a socket we no longer have: watch it through the HTTP API.
                self._schedule(self.settings.reconcile_interval, lambda: self._reconcile_again(job))
            case bk.PromptUnknown():
                self._resubmit_lost(job, state)
            case bk.ReconcileFailed():
                log.warning("job %s: cannot reconcile yet: %s", job.job_id, item.reason)
                self._schedule(self.settings.reconcile_interval, lambda: self._reconcile_again(job))
            case bk.OutputsSaved():
                job.outputs = item.outputs
                for output in item.outputs:
                    self.publisher.job_event(TOPIC_OUTPUT, job, dict(output))
                self.machine.fire(job, "finish")
            case bk.OutputsFailed():
                job.error = {"code": "output_failed", "message": item.reason}
                self.machine.fire(job, "fail")

    def _reconcile_again(self, job: Job) -> None:
        if not job.finished and job.reconciling:
            self._reconcile(job)

    def _finish_from_history(self, job: Job, entry: dict[str, Any]) -> None:
        outcome = outcome_of(entry)
        if outcome.succeeded:
            job.comfy_succeeded = True
            self._on_prompt_end(job)
        elif outcome.error is not None:
            self.tracker.apply(job, outcome.error)
        elif outcome.interrupted is not None:
            self.tracker.apply(job, outcome.interrupted)
        else:
            self._on_prompt_end(job)

    def _resubmit_lost(self, job: Job, state: BackendState) -> None:
        if job.cancel_requested:
            state.inflight.discard(job.job_id)
            self.machine.fire(job, "cancel")
        elif job.attempts >= self.settings.max_attempts:
            state.inflight.discard(job.job_id)
            job.error = {
                "code": "lost",
                "message": f"ComfyUI at {state.backend.url} lost the prompt "
                f"{job.attempts} times (it restarted or its queue was cleared); giving up",
            }
            self.machine.fire(job, "fail")
        else:
            log.warning(
                "job %s: ComfyUI at %s does not know prompt %s; sending it again (attempt %d)",
                job.job_id,
                state.backend.url,
                job.prompt_id,
                job.attempts + 1,
            )
            self._unsubmit(job, state)

    def _unsubmit(self, job: Job, state: BackendState) -> None:
        """Back to pixflow's queue, ahead of later jobs of its priority, to be sent again."""
        state.inflight.discard(job.job_id)
        job.submitted, job.backend, job.reconciling = False, None, False
        job.comfy_succeeded, job.started_at, job.progress = False, None, None
        if job.job_state != JobState.QUEUED:
            self.machine.fire(job, "requeue")  # saves
        else:
            self.store.save(job)
        self.registry.requeue(job)


def _rejection_message(error: dict[str, Any], node_errors: dict[str, Any]) -> str:
    parts = [str(error.get("message") or "ComfyUI rejected the prompt")]
    for node_id, detail in node_errors.items():
        for node_error in detail.get("errors", []):
            text = node_error.get("details") or node_error.get("message")
            parts.append(f"node {node_id} ({detail.get('class_type')}): {text}")
    return "; ".join(parts)
