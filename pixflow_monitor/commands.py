"""The operator's actions as requests, and their answers as one plain sentence each. Nothing is assumed: every
sentence comes from the worker's reply (or from its silence)."""

from __future__ import annotations

import secrets
from typing import Any

from textual.notifications import SeverityLevel

from pixflow.vocabulary import JobState
from pixflow_monitor.request import Request, error_text, is_error

GENERATE_FIELDS = (
    "prompt",
    "negative_prompt",
    "model",
    "size",
    "steps",
    "cfg_scale",
    "seed",
    "sampler",
    "scheduler",
    "batch_size",
    "workflow",
    "priority",
    "previews",
    "params",  # the workflow's own parameters and LoRAs go again too (input images cannot: no bytes in a snapshot)
    "loras",
)
RETRYABLE = (JobState.FAILED, JobState.CANCELLED)
BACKEND_MODES = ("drain", "disable", "enable")  # requests that set a backend's mode, answered `backend`
MAX_ID = 128


def cancel(job_id: str) -> Request:
    return Request("cancel", {"job_id": job_id}, purpose="action.cancel", job_id=job_id)


def pause() -> Request:
    return Request("pause", purpose="action.pause")


def resume() -> Request:
    return Request("resume", purpose="action.resume")


def backend_mode(verb: str, backend: str) -> Request:
    """`drain`, `disable` or `enable` one backend by name."""
    if verb not in BACKEND_MODES:
        raise ValueError(f"not a backend mode request: {verb!r}")
    return Request(verb, {"backend": backend}, purpose=f"action.{verb}")


def list_workflows() -> Request:
    return Request("list_workflows", purpose="action.workflows")


def find(job_id: str) -> Request:
    return Request("status", {"job_id": job_id}, purpose="action.find", job_id=job_id)


def retry_lookup(job_id: str) -> Request:
    """Retrying starts by reading the job as the worker has it now."""
    return Request("status", {"job_id": job_id}, purpose="action.retry-lookup", job_id=job_id)


def retry_id(job_id: str) -> str:
    suffix = f"-retry-{secrets.token_hex(3)}"
    return job_id[: MAX_ID - len(suffix)] + suffix


def retry_generate(snapshot: dict[str, Any], new_id: str) -> Request:
    """A `generate` with the failed job's validated parameters (its seed included) under a new id."""
    params = snapshot.get("params") or {}
    fields = {key: params[key] for key in GENERATE_FIELDS if params.get(key) is not None}
    if "workflow" not in fields and snapshot.get("workflow"):
        fields["workflow"] = snapshot["workflow"]
    return Request(
        "generate", {"id": new_id, **fields}, purpose="action.retry", job_id=str(snapshot.get("job_id") or "")
    )


def describe(request: Request, reply: dict[str, Any]) -> tuple[str, SeverityLevel]:
    """(sentence, severity) for the worker's answer to an action; severity is information, warning or error."""
    what = _what(request)
    if is_error(reply):
        return f"{what}: the worker answered {error_text(reply)}", "error"
    kind = reply.get("type")
    if request.purpose == "action.cancel" and kind == "job":
        return f"{what}: cancel requested, the job is {reply.get('state')} now", "information"
    if request.purpose == "action.retry" and kind == "accepted":
        if reply.get("existing"):
            return f"{what}: the worker already had job {reply.get('job_id')} ({reply.get('state')})", "warning"
        return f"{what}: submitted as {reply.get('job_id')} ({reply.get('state')})", "information"
    if request.purpose in ("action.pause", "action.resume") and kind == "worker" and "paused" in reply:
        return f"{what}: the worker answered: dispatch is {'paused' if reply['paused'] else 'running'}", "information"
    if request.kind in BACKEND_MODES and kind == "backend":
        return f"{what}: the worker answered: {backend_summary(reply)}", "information"
    if request.purpose == "action.find" and kind == "job":
        return f"{what}: {reply.get('job_id')} is {reply.get('state')}", "information"
    fields = {key: value for key, value in reply.items() if key not in ("type", "v", "req_id")}
    shown = ", ".join(f"{key}={_short(value)}" for key, value in fields.items())
    return f"{what}: the worker answered {kind}" + (f" ({shown})" if shown else ""), "information"


def backend_summary(figures: dict[str, Any]) -> str:
    """`gpu1 is draining (mode draining), 1 in flight, ComfyUI queue 2`: a backend's figures in one sentence."""
    queue = figures.get("queue_remaining")
    return (
        f"{figures.get('name')} is {figures.get('state')} (mode {figures.get('mode')}), "
        f"{figures.get('inflight', '?')} in flight, ComfyUI queue {queue if queue is not None else '?'}"
    )


def describe_failure(request: Request, code: str, message: str) -> tuple[str, SeverityLevel]:
    return f"{_what(request)}: no answer ({code}: {message})", "error"


def _what(request: Request) -> str:
    names = {
        "action.cancel": "cancel",
        "action.pause": "pause",
        "action.resume": "resume",
        "action.find": "status",
        "action.retry-lookup": "retry",
        "action.retry": "retry",
    }
    name = names.get(request.purpose, request.kind)
    subject = request.job_id or request.fields.get("backend")  # a job's actions name the job, a backend's the backend
    return f"{name} {subject}" if subject else name


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
