"""The requests that steer the worker (admin): pause and resume dispatch, drain, disable and enable a backend."""

from __future__ import annotations

from typing import Any

from pixflow.scheduling.backends import Mode
from pixflow.serving.context import Request, Serving
from pixflow.serving.fields import BackendRef, NoFields


def pause(serving: Serving, request: Request, _: NoFields) -> dict[str, Any]:
    """Stop handing jobs to ComfyUI; jobs already there run to their end. Survives restarts."""
    serving.scheduler.set_paused(True)
    return request.reply("worker", **serving.status())


def resume(serving: Serving, request: Request, _: NoFields) -> dict[str, Any]:
    serving.scheduler.set_paused(False)
    return request.reply("worker", **serving.status())


def drain(serving: Serving, request: Request, ref: BackendRef) -> dict[str, Any]:
    """No new prompts for this backend; what it holds runs to the end there."""
    return request.reply("backend", **serving.scheduler.set_backend_mode(ref.name, Mode.DRAINING))


def disable(serving: Serving, request: Request, ref: BackendRef) -> dict[str, Any]:
    """No new prompts; prompts waiting in its queue move to other backends; the running one finishes."""
    return request.reply("backend", **serving.scheduler.set_backend_mode(ref.name, Mode.DISABLED))


def enable(serving: Serving, request: Request, ref: BackendRef) -> dict[str, Any]:
    return request.reply("backend", **serving.scheduler.set_backend_mode(ref.name, Mode.ACTIVE))
