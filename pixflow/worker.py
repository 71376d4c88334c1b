"""The worker: one loop owns the jobs and the sockets; backend threads feed it through an Inbox."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import zmq

from pixflow import __version__
from pixflow import backend as bk
from pixflow import comfy_events as ce
from pixflow.config import Settings
from pixflow.errors import ErrorCode, RequestError
from pixflow.handlers import RequestHandlers
from pixflow.inbox import Inbox
from pixflow.jobs import Job
from pixflow.machine import JobMachine
from pixflow.params import GenerateParams
from pixflow.protocol import (
    MAX_REQUEST_BYTES,
    PROTOCOL_VERSION,
    TOPIC_BACKEND,
    TOPIC_OUTPUT,
    TOPIC_STATE,
    TOPIC_STATS,
    decode_request,
    error_reply,
    now_ms,
    pack,
)
from pixflow.publisher import Publisher
from pixflow.registry import JobRegistry
from pixflow.states import TERMINAL, JobState
from pixflow.tracker import JobTracker
from pixflow.workflows import Workflow, load_workflows

log = logging.getLogger(__name__)

RETRY_AFTER_SUBMIT_FAILURE = 1.0  # seconds a backend rests after a failed POST /prompt


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


@dataclass(frozen=True)
class _Stop:
    pass


class Worker:
    def __init__(self, settings: Settings, context: zmq.Context | None = None) -> None:
        self.settings = settings
        self.workflows: dict[str, Workflow] = load_workflows(settings.workflows_dir)
        if settings.default_workflow not in self.workflows:
            raise RequestError(ErrorCode.INVALID_PARAMS, f"default workflow {settings.default_workflow!r} not found")
        self.started_at = now_ms()
        self.inbox = Inbox()
        self.registry = JobRegistry(settings.max_finished_jobs)
        self.machine = JobMachine(self._on_state_change)
        self._context = context or zmq.Context.instance()
        self.router = self._context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES)
        self.router.bind(settings.req_addr)
        self.pub = self._context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind(settings.pub_addr)
        self.req_endpoint = self.router.getsockopt_string(zmq.LAST_ENDPOINT)
        self.pub_endpoint = self.pub.getsockopt_string(zmq.LAST_ENDPOINT)
        self.publisher = Publisher(self.pub)
        self.tracker = JobTracker(self.machine, self.publisher, self._on_prompt_end)
        self.handlers = RequestHandlers(self)
        self.backends: dict[str, BackendState] = {
            b.name: BackendState(bk.Backend(b.name, b.url, self.inbox, settings.http_timeout))
            for b in settings.backends
        }
        self._running = False

    # Lifecycle.
    def run(self) -> None:
        """Serve until stop() is called. Everything below runs on this one thread."""
        self._running = True
        for state in self.backends.values():
            state.backend.start()
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.inbox.wake_fd, zmq.POLLIN)
        next_stats = time.monotonic()
        log.info("pixflow %s serving requests on %s, events on %s", __version__, self.req_endpoint, self.pub_endpoint)
        try:
            while self._running:
                timeout_ms = max(0, int((next_stats - time.monotonic()) * 1000))
                ready = dict(poller.poll(timeout_ms))
                if self.router in ready:
                    self._serve_requests()
                if self.inbox.wake_fd in ready:
                    for item in self.inbox.drain():
                        self._on_inbox(item)
                self._dispatch()
                if time.monotonic() >= next_stats:
                    self.publisher.publish(TOPIC_STATS, self._stats())
                    next_stats = time.monotonic() + self.settings.stats_interval
        finally:
            self._shutdown()

    def stop(self) -> None:
        """Thread-safe: ask the loop to finish."""
        self.inbox.post(_Stop())

    def _shutdown(self) -> None:
        for state in self.backends.values():
            state.backend.stop()
        self.router.close(0)
        self.pub.close(0)
        self.inbox.close()
        log.info("pixflow stopped")

    # Requests.
    def _serve_requests(self) -> None:
        while True:
            try:
                frames = self.router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.router.send_multipart(self._answer(frames))

    def _answer(self, frames: list[bytes]) -> list[bytes]:
        try:
            split = frames.index(b"")
        except ValueError:  # a DEALER that forgot the empty delimiter frame
            envelope = frames[:1]
            return [
                *envelope,
                b"",
                pack(error_reply(ErrorCode.BAD_REQUEST, "expected [empty delimiter frame, msgpack map]")),
            ]
        envelope, body = frames[: split + 1], frames[split + 1 :]
        if len(body) != 1:
            return [
                *envelope,
                pack(
                    error_reply(
                        ErrorCode.BAD_REQUEST, f"expected one payload frame after the delimiter, got {len(body)}"
                    )
                ),
            ]
        req_id = None
        try:
            message = decode_request(body[0])
            req_id = message.get("req_id")
            answer = self.handlers.handle(message)
        except RequestError as e:
            answer = error_reply(e.code, e.message, req_id if req_id is not None else e.req_id)
        except Exception as e:  # a bug: answer, log, keep serving
            log.exception("request failed")
            answer = error_reply(ErrorCode.INTERNAL, f"internal error: {type(e).__name__}: {e}", req_id)
        return [*envelope, pack(answer)]

    # Jobs.
    def create_job(self, job_id: str, params: GenerateParams, workflow: Workflow) -> Job:
        job = Job(job_id, params, workflow, workflow.fill(params), prompt_id=str(uuid.uuid4()))
        self.registry.add(job)
        self.machine.add(job)
        self.publisher.job_event(TOPIC_STATE, job, {"from": None, "to": job.state})
        return job

    def cancel_job(self, job: Job) -> None:
        job.cancel_requested = True
        if not job.submitted:
            self.machine.fire(job, "cancel")
            return
        self.backends[job.backend].backend.cancel(job.job_id, job.prompt_id)

    def known_models(self) -> set[str]:
        return {model for state in self.backends.values() for model in state.models}

    def status(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "protocol": PROTOCOL_VERSION,
            "started_at": self.started_at,
            "jobs": self.registry.count_by_state(),
            "backends": [state.describe() for state in self.backends.values()],
            "workflows": sorted(self.workflows),
        }

    def _stats(self) -> dict[str, Any]:
        counts = self.registry.count_by_state()
        running = sum(counts[s.value] for s in JobState if s not in TERMINAL and s != JobState.QUEUED)
        return {
            "queued": counts[JobState.QUEUED.value],
            "running": running,
            "done": counts[JobState.DONE.value],
            "failed": counts[JobState.FAILED.value],
            "cancelled": counts[JobState.CANCELLED.value],
            "backends_up": sum(1 for state in self.backends.values() if state.up),
        }

    def _dispatch(self) -> None:
        now = time.monotonic()
        for state in self.backends.values():
            if not state.up or state.client_id is None or now < state.resting_until:
                continue
            while len(state.inflight) < self.settings.max_inflight:
                job = self.registry.pop_next()
                if job is None:
                    return
                job.submitted = True
                job.backend = state.backend.name
                state.inflight.add(job.job_id)
                state.backend.submit(job.job_id, job.prompt_id, job.graph, state.client_id)

    def _on_state_change(self, job: Job, source: JobState, dest: JobState) -> None:
        now = now_ms()
        job.state_times[dest.value] = now
        fields: dict[str, Any] = {"from": source.value, "to": dest.value, "passes": job.passes}
        if dest in TERMINAL:
            job.finished_at = now
            self.registry.mark_finished(job)
            if job.backend is not None:
                self.backends[job.backend].inflight.discard(job.job_id)
            if dest == JobState.FAILED:
                fields["error"] = job.error
            if dest == JobState.DONE:
                fields["outputs"] = job.outputs
        self.publisher.job_event(TOPIC_STATE, job, fields)

    def _on_prompt_end(self, job: Job) -> None:
        """ComfyUI has finished with this prompt: free its slot, then save or settle the job."""
        state = self.backends[job.backend]
        state.inflight.discard(job.job_id)
        if job.comfy_succeeded:
            job.saving_outputs = True
            job_dir = self.settings.output_dir / job.job_id
            state.backend.fetch_outputs(job.job_id, job.prompt_id, job_dir, self._sidecar(job))
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
            "timings": {
                "created_at": job.created_at,
                "started_at": job.started_at,
                "state_times": dict(job.state_times),
                "saved_at": now_ms(),
            },
        }

    # Messages from backend threads.
    def _on_inbox(self, item: Any) -> None:
        match item:
            case _Stop():
                self._running = False
            case bk.BackendEvent():
                self._on_backend_event(self.backends[item.backend], item.event)
            case bk.BackendUp() | bk.BackendDown() | bk.BackendInfo():
                self._on_backend_health(self.backends[item.backend], item)
            case _:
                job = self.registry.get(item.job_id)
                if job is not None:
                    self._on_job_result(job, item)

    def _on_backend_event(self, state: BackendState, event: ce.ComfyEvent) -> None:
        if isinstance(event, ce.ExecutionStart):
            state.running_prompt = event.prompt_id
        # Type-1 previews and some progress messages name no prompt: they belong to the running one.
        job = self.registry.by_prompt(event.prompt_id or state.running_prompt)
        if isinstance(event, ce.Executing) and event.node is None and state.running_prompt == event.prompt_id:
            state.running_prompt = None
        if job is not None:
            self.tracker.apply(job, event)

    def _on_backend_health(self, state: BackendState, item: Any) -> None:
        match item:
            case bk.BackendUp():
                state.client_id = item.client_id
                changed, state.up, state.reason = state.up is not True, True, None
                state.backend.refresh_info()
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

    def _on_job_result(self, job: Job, item: Any) -> None:
        match item:
            case bk.Submitted():
                log.debug("job %s submitted as prompt %s", job.job_id, job.prompt_id)
            case bk.SubmitRejected():
                state = self.backends[job.backend]
                state.inflight.discard(job.job_id)
                rejection = item.rejection
                job.error = {
                    "code": "validation_error",
                    "message": _rejection_message(rejection.error, rejection.node_errors),
                    "comfy_error": rejection.error,
                    "node_errors": rejection.node_errors,
                }
                self.machine.fire(job, "fail")
            case bk.SubmitFailed():
                state = self.backends[job.backend]
                state.inflight.discard(job.job_id)
                job.submitted, job.backend = False, None
                if job.cancel_requested:
                    self.machine.fire(job, "cancel")
                    return
                log.warning("job %s waits: %s", job.job_id, item.reason)
                state.resting_until = time.monotonic() + RETRY_AFTER_SUBMIT_FAILURE
                self.registry.requeue_front(job)
            case bk.CancelChecked():
                if not item.in_comfy_queue and job.started_at is None and not job.finished:
                    self.backends[job.backend].inflight.discard(job.job_id)
                    self.machine.fire(job, "cancel")
            case bk.OutputsSaved():
                job.outputs = item.outputs
                for output in item.outputs:
                    self.publisher.job_event(TOPIC_OUTPUT, job, dict(output))
                self.machine.fire(job, "finish")
            case bk.OutputsFailed():
                job.error = {"code": "output_failed", "message": item.reason}
                self.machine.fire(job, "fail")


def _rejection_message(error: dict[str, Any], node_errors: dict[str, Any]) -> str:
    parts = [str(error.get("message") or "ComfyUI rejected the prompt")]
    for node_id, detail in node_errors.items():
        for node_error in detail.get("errors", []):
            text = node_error.get("details") or node_error.get("message")
            parts.append(f"node {node_id} ({detail.get('class_type')}): {text}")
    return "; ".join(parts)
