"""The backends as the loop sees them: health, the WebSocket's client id, what each offers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pixflow.comfy.backend import Backend, Post
from pixflow.config import Settings

RETRY_AFTER_SUBMIT_FAILURE = 1.0  # seconds a backend rests after a failed POST /prompt


@dataclass
class BackendState:
    backend: Backend
    up: bool | None = None  # None: not heard from yet
    client_id: str | None = None  # of the WebSocket now open: prompts sent with it report to us
    reason: str | None = None
    models: list[str] = field(default_factory=list)
    version: str | None = None
    running_prompt: str | None = None
    resting_until: float = 0.0
    last_frame: float = field(default_factory=time.monotonic)

    @property
    def name(self) -> str:
        return self.backend.name

    def accepts_prompts(self, now: float) -> bool:
        return bool(self.up) and self.client_id is not None and now >= self.resting_until

    def rest(self) -> None:
        self.resting_until = time.monotonic() + RETRY_AFTER_SUBMIT_FAILURE

    def describe(self, inflight: int) -> dict[str, Any]:
        return {
            "name": self.backend.name,
            "url": self.backend.url,
            "up": bool(self.up),
            "reason": self.reason,
            "version": self.version,
            "models": len(self.models),
            "inflight": inflight,
        }


def make_backends(settings: Settings, post: Post) -> dict[str, BackendState]:
    return {
        b.name: BackendState(
            Backend(
                b.name,
                b.url,
                post,
                settings.http_timeout,
                settings.ws_ping_interval,
                settings.ws_ping_timeout,
                settings.fetch_workers,
            )
        )
        for b in settings.backends
    }
