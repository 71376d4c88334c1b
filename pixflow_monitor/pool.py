"""The backend pool as the monitor reads it: a backend's state from its figures, and what a change of them is worth
a line in the log for. Plain functions of the `backend.<name>` figures (docs/pool.md)."""

from __future__ import annotations

from typing import Any

STATE_LEVEL = {"up": "info", "down": "error"}  # other states (draining, disabled, retiring, removed): warning


def backend_state(backend: dict[str, Any]) -> str:
    """A backend's `state` (up, down, draining, disabled, retiring, removed); from a worker without a pool, which
    sends only `up`, its health."""
    state = backend.get("state")
    if isinstance(state, str) and state:
        return state
    return "up" if backend.get("up") else "down"


def backend_news(name: str, before: dict[str, Any] | None, now: dict[str, Any]) -> list[tuple[str, str]]:
    """(text, level) log lines for a backend's new figures: it came up or went down, or its state changed (an
    operator drained, disabled or enabled it, it is retiring or removed). Figures alone (queue, inflight) are not
    news."""
    state = backend_state(now)
    if state == "removed":
        return [(f"backend {name} removed from the worker's settings", "warning")]
    lines: list[tuple[str, str]] = []
    if before is None or bool(before.get("up")) != bool(now.get("up")):
        if now.get("up"):
            lines.append((f"backend {name} up (ComfyUI {now.get('version') or '?'})", "info"))
        else:
            lines.append((f"backend {name} DOWN: {now.get('reason') or 'no reason given'}", "error"))
        if state not in ("up", "down"):  # came up (or was first seen) already draining, say
            lines.append((f"backend {name} is {state}", "warning"))
    elif backend_state(before) != state:
        lines.append((f"backend {name} is {state} (mode {now.get('mode') or '?'})", STATE_LEVEL.get(state, "warning")))
    return lines
