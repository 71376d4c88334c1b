"""The shell around jobs/life.py: asks the table what an event does to a job, writes the job's fields, and carries
out the effects. The one writer of a job's life fields (tests/test_layers.py holds every other module to it).

Runs on the worker loop's thread only. Commands to a backend go into its lanes, which hold them in the outbox until
the turn's writes are committed (pixflow/loop/outbox.py); events go out through the publisher, which holds them the
same way. A job is saved at most once per event handled (the row's SAVE, or any move of its state), and before a
SUBMIT: a prompt is durably recorded as sent before its POST.

Every step about one job, and every timer about it, runs under `guard`: an exception while handling it is logged
with the job's id and fails that job with `internal` (the INTERNAL row); the worker keeps serving every other job.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pixflow.comfy import events as ce
from pixflow.comfy.nodes import stage_for
from pixflow.errors import FailureCode
from pixflow.jobs import life, reports
from pixflow.jobs.dispatch import DispatchBook, Phase
from pixflow.jobs.job import Job
from pixflow.jobs.life import Effect, Event, Facts, Rule
from pixflow.jobs.registry import JobRegistry
from pixflow.jobs.store import JobStore
from pixflow.loop.sink import EventSink
from pixflow.loop.watcher import Schedule
from pixflow.scheduling import job_log
from pixflow.scheduling.backends import BackendState
from pixflow.scheduling.sidecar import sidecar_for
from pixflow.settings import Settings
from pixflow.vocabulary import (
    STAGES,
    TERMINAL,
    TOPIC_OUTPUT,
    TOPIC_PREVIEW,
    TOPIC_PROGRESS,
    TOPIC_STATE,
    JobState,
    now_ms,
)
from pixflow.workflows.post import job_steps

log = logging.getLogger(__name__)

NO_OUTCOME = "ComfyUI ended the prompt without success or error"


@dataclass(frozen=True)
class Given:
    """What an event carries besides its name (each field only where its event has it)."""

    on: BackendState | None = None  # PLACED, SEEN: the backend it is about
    comfy: ce.ComfyEvent | None = None  # the ComfyUI event (STAGE, PROGRESS, OUTPUT, PREVIEW, ERRORED, ...)
    outputs: Any = None  # FOUND_DONE: the history entry's outputs; SAVED: the images written
    reason: str = ""  # the failure's message, where the event brings one
    details: dict[str, Any] | None = None  # more fields of the failure (a rejection's node errors)
    loads_model: bool = False  # PLACED: its backend loads another checkpoint for it


NOTHING = Given()


@dataclass(frozen=True)
class Hooks:
    """What the scheduler does around a job's end (learning times, telling `compare` groups)."""

    done: Callable[[Job], None]  # before its live bookkeeping is dropped: the ETA and the backend learn from it
    ended: Callable[[Job], None]  # after its final state is saved


class JobLife:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        publisher: EventSink,
        registry: JobRegistry,
        book: DispatchBook,
        backends: dict[str, BackendState],
        schedule: Schedule,
        hooks: Hooks,
    ) -> None:
        self._settings = settings
        self._store = store
        self._publisher = publisher
        self._registry = registry
        self._book = book
        self._backends = backends
        self._schedule = schedule
        self._hooks = hooks

    # The guard.
    def guard(self, job: Job | None, what: str, step: Callable[[], object]) -> None:
        """Run one step of the loop's work about `job`; a bug in it fails that job, never the worker."""
        try:
            step()
        except Exception as e:
            if job is None:
                log.exception("%s failed", what)
                return
            log.exception("job %s: %s failed", job.job_id, what)
            try:
                self.handle(job, Event.INTERNAL, Given(reason=f"internal error in {what}: {type(e).__name__}: {e}"))
            except Exception:
                log.exception("job %s: could not record its internal failure", job.job_id)

    def fire(self, job: Job, event: Event, given: Given | None = None) -> None:
        """`handle`, guarded: a bug while handling it fails this job only."""
        self.guard(job, str(event), lambda: self.handle(job, event, given or NOTHING))

    def after(self, delay: float, job: Job, event: Event) -> None:
        """`event` for this job in `delay` seconds, guarded like every message about it."""
        self._schedule(delay, lambda: self.fire(job, event))

    # The one entry.
    def handle(self, job: Job, event: Event, given: Given = NOTHING) -> Rule:
        """Apply the table's row for `event` to the job; returns the row (its `why` says what happened)."""
        if job.finished:
            return life.ENDED_RULE
        rule = life.decide(event, job.phase, lambda: self._facts(job))
        if rule.ignores:
            return rule
        backend = self._backends.get(job.backend or "")  # where it was: effects about "its backend" mean this one
        save = False
        if rule.phase is not None:
            self._enter_phase(job, rule.phase, given.on)
        if rule.failure is not None:
            job.error = self._error(job, rule.failure, given, backend)
        for effect in rule.effects:
            if effect == Effect.SAVE:
                save = True
            elif effect == Effect.SUBMIT and save:
                self._store.save(job)
                save = False
                self._do(effect, job, given, backend)
            else:
                self._do(effect, job, given, backend)
        target = self._target(job, rule, given)
        dest = life.state_after(job.job_state, target) if target is not None else None
        if dest is not None:
            self._enter_state(job, dest)  # saves
        elif save:
            self._store.save(job)
        return rule

    def _facts(self, job: Job) -> Facts:
        state = self._backends.get(job.backend or "")
        return Facts(
            cancel_asked=job.cancel_requested,
            started=job.started_at is not None,
            outputs_missed=job.node_outputs is None,
            backend_down=state is not None and not state.up,
            attempts_left=job.attempts < self._settings.max_attempts,
            running_there=state is not None and state.running_prompt == job.prompt_id,
            previews_wanted=job.params.previews,
        )

    @staticmethod
    def _target(job: Job, rule: Rule, given: Given) -> JobState | None:
        if not rule.to_stage:
            return rule.state
        node = given.comfy.node if isinstance(given.comfy, ce.Executing) else None
        class_type = job.workflow.class_type(node) if node else None
        return stage_for(class_type, job.workflow.stages) if class_type else None

    # The job's fields.
    def _enter_phase(self, job: Job, phase: Phase, on: BackendState | None) -> None:
        if phase == job.phase:
            return
        if job.phase == Phase.WAITING and phase == Phase.SUBMITTED:
            if on is None:
                raise life.NoRule(f"job {job.job_id}: sent to no backend")
            job.backend = on.name
            job.node_outputs = {}  # collected from `executed` events while they are followed live
        elif phase == Phase.WAITING:
            job.backend = None
        elif phase == Phase.RECONCILING:
            job.node_outputs = None  # events may have been missed: the outputs come from /history
        job.phase = phase
        self._book.place(job.job_id, phase, job.backend)

    def _enter_state(self, job: Job, dest: JobState) -> None:
        source = job.job_state
        now = now_ms()
        job.state = dest.value
        if life.new_pass(source, dest):
            job.passes += 1
        job.state_times[dest.value] = now
        if dest in STAGES and job.tracking is not None:
            job.tracking.on_stage(dest)
        fields: dict[str, Any] = {"from": source.value, "to": dest.value, "passes": job.passes, "backend": job.backend}
        fields.update(job.progress_view())
        ends = dest in TERMINAL
        if ends:
            job.finished_at = now
            if job.phase != Phase.ENDED:
                job.phase = Phase.ENDED
                self._book.place(job.job_id, Phase.ENDED, job.backend)
            self._registry.mark_finished(job)
            if dest == JobState.FAILED:
                fields["error"] = job.error
            if dest == JobState.DONE:
                fields["outputs"] = job.outputs
                self._hooks.done(job)
            job.tracking, job.graph, job.node_outputs = None, {}, {}  # the store keeps the graph
        self._publisher.job_event(TOPIC_STATE, job, fields)
        self._store.save(job)
        if ends:
            job_log.ended(job)
            try:
                self._hooks.ended(job)
            except Exception:  # a listener's bug must not touch the job, which has ended already
                log.exception("job %s: a listener of job ends failed", job.job_id)

    def _error(self, job: Job, code: FailureCode, given: Given, backend: BackendState | None) -> dict[str, Any]:
        match given.comfy:
            case ce.ExecutionError() as raised if code == FailureCode.EXECUTION_ERROR:
                return reports.execution_error(raised)
            case ce.ExecutionInterrupted() as interrupted if code == FailureCode.INTERRUPTED:
                return reports.interruption(interrupted)
        message = given.reason
        if code == FailureCode.NO_OUTCOME:
            message = NO_OUTCOME
        elif code == FailureCode.LOST:
            url = backend.backend.url if backend is not None else job.backend
            message = (
                f"ComfyUI at {url} lost the prompt {job.attempts} times (it restarted or its queue was cleared); "
                "giving up"
            )
        return {"code": code.value, "message": message, **(given.details or {})}

    # The effects.
    def _do(self, effect: Effect, job: Job, given: Given, backend: BackendState | None) -> None:
        match effect:
            case Effect.COUNT_ATTEMPT:
                job.attempts += 1
                job.wait_reason = None
                job.loads_model = given.loads_model
            case Effect.MARK_CANCEL:
                job.cancel_requested = True
            case Effect.NOTE_START:
                job.started_at = now_ms()
            case Effect.NOTE_PROGRESS:
                self._progress(job, given.comfy)
            case Effect.TOUCH:
                self._store.touch(job)
            case Effect.KEEP_OUTPUT:
                executed = given.comfy
                if isinstance(executed, ce.Executed) and executed.output.get("images") and job.node_outputs is not None:
                    job.node_outputs[executed.node] = executed.output
            case Effect.PREVIEW:
                self._preview(job, given.comfy)
            case Effect.NOTE_OUTPUTS:
                job.outputs = list(given.outputs or [])
                for output in job.outputs:
                    self._publisher.job_event(TOPIC_OUTPUT, job, dict(output))
            case Effect.RESTART:
                job.started_at, job.progress, job.loads_model = None, None, False
            case Effect.REPROMPT:
                old, job.prompt_id = job.prompt_id, str(uuid.uuid4())
                self._registry.reprompted(job, old)
            case Effect.REQUEUE:
                self._registry.requeue(job)
            case Effect.SAVE:
                self._store.save(job)
            case Effect.SUBMIT:
                on = given.on
                assert on is not None and on.client_id is not None  # placement sends only to a connected backend
                on.backend.submit(job.job_id, job.prompt_id, job.graph, on.client_id, job.uploads)
            case Effect.REST_BACKEND:
                if backend is not None:
                    backend.rest()
            case Effect.CANCEL_PROMPT:
                if backend is not None:
                    backend.backend.cancel(job.job_id, job.prompt_id)
            case Effect.ESCALATE_LATER:
                self.after(self._settings.cancel_timeout, job, Event.ESCALATE)
            case Effect.INTERRUPT_ALL:
                on = self._on(job, backend)
                log.warning(
                    "job %s: no confirmation of the cancel after %ss; interrupting %s",
                    job.job_id,
                    self._settings.cancel_timeout,
                    on.name,
                )
                on.backend.interrupt_all()
            case Effect.DISCARD_NOW:
                self._on(job, backend).backend.discard(job.prompt_id)
            case Effect.DISCARD_COPY:
                if backend is not None:
                    backend.discard.add(job.prompt_id)
            case Effect.WITHDRAW:
                self._on(job, backend).backend.withdraw(job.job_id, job.prompt_id)
            case Effect.ASK:
                self._on(job, backend).backend.reconcile(job.job_id, job.prompt_id)
            case Effect.LOOK_AGAIN_LATER:
                self.after(self._settings.reconcile_interval, job, Event.LOOK_AGAIN)
            case Effect.FETCH:
                self._fetch(job, given.outputs if given.outputs is not None else job.node_outputs, backend)

    def _on(self, job: Job, backend: BackendState | None) -> BackendState:
        if backend is None:
            raise KeyError(f"job {job.job_id} is on no configured backend ({job.backend!r})")
        return backend

    def _progress(self, job: Job, event: ce.ComfyEvent | None) -> None:
        assert isinstance(event, ce.Progress)
        job.progress = {"node": event.node, "value": event.value, "max": event.max}
        if job.tracking is not None:
            job.tracking.on_step(event.node, event.value, event.max)
        self._publisher.job_event(TOPIC_PROGRESS, job, {"stage": job.stage, **job.progress, **job.progress_view()})

    def _preview(self, job: Job, event: ce.ComfyEvent | None) -> None:
        assert isinstance(event, ce.Preview)
        fields: dict[str, Any] = {
            "node": event.node or (job.progress or {}).get("node"),
            "step": reports.preview_step(job.progress, event),
            "format": event.image_format,
            "image": event.image,
        }
        self._publisher.job_event(TOPIC_PREVIEW, job, fields)
        job.last_preview_image = event.image  # kept for fetch_preview; only the newest, never stored
        job.last_preview = {
            "seq": job.seq,
            "step": fields["step"],
            "node": fields["node"],
            "format": event.image_format,
        }

    def _fetch(self, job: Job, node_outputs: dict[str, Any] | None, backend: BackendState | None) -> None:
        """Outputs seen live spare a GET /history; None has the backend read the prompt's history entry first."""
        state = self._on(job, backend)
        job_dir = self._settings.output_dir / job.job_id
        sidecar = sidecar_for(job, state.backend.url)
        post = job_steps(job.workflow, job.params)
        state.backend.fetch_outputs(job.job_id, job.prompt_id, job_dir, sidecar, node_outputs or None, post)
