"""The backends panel's text: each backend's state, loaded model, load and speed, from its figures (docs/pool.md).

Older workers send only `up`, `reason`, `version`, `models` and `inflight`: what they lack is shown as unknown
(`?`), never guessed.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from pixflow_monitor.pool import backend_state

STATE_MARKS: dict[str, tuple[str, str]] = {
    "up": ("●", "bold green"),
    "down": ("✖", "bold red"),
    "draining": ("◐", "bold yellow"),
    "disabled": ("○", "bold magenta"),
    "retiring": ("◌", "yellow"),
}


def rate_text(seconds_per_job: Any) -> str:
    """The backend's learned speed: `1.42 s/job`; `— s/job` until one of its jobs has finished."""
    if isinstance(seconds_per_job, int | float) and not isinstance(seconds_per_job, bool) and seconds_per_job > 0:
        return f"{seconds_per_job:.2f} s/job" if seconds_per_job < 10 else f"{seconds_per_job:.0f} s/job"
    return "— s/job"


def load_text(backend: dict[str, Any]) -> str:
    """`inflight 1/2 · ComfyUI queue 3`: prompts pixflow handed it, of its limit, and the depth of ComfyUI's own
    queue (which counts the running prompt)."""
    inflight = backend.get("inflight", "?")
    limit = backend.get("max_inflight")
    queue = backend.get("queue_remaining")
    limit_text = limit if limit is not None else "?"
    return f"inflight {inflight}/{limit_text} · ComfyUI queue {queue if queue is not None else '?'}"


def models_text(count: Any) -> str:
    return f"{count} model" if count == 1 else f"{count if count is not None else '?'} models"


def state_text(backend: dict[str, Any]) -> Text:
    """`● up`, `◐ draining`, and the operator's mode when the state hides it (`✖ down · disabled`)."""
    state = backend_state(backend)
    mark, style = STATE_MARKS.get(state, ("?", "bold"))
    text = Text(f"{mark} {state}", style)
    mode = backend.get("mode")
    if isinstance(mode, str) and mode not in ("active", state):
        text.append(f" · {mode}", "magenta")
    return text


def backend_text(name: str, backend: dict[str, Any]) -> Text:
    """Four lines: name and state; loaded model and speed; load; why it is down, else its URL and model count."""
    text = Text()
    text.append(name, "bold")
    text.append("  ")
    text.append_text(state_text(backend))
    text.append(f"  ComfyUI {backend.get('version') or '?'}\n")
    loaded = backend.get("loaded_model")
    text.append(f"  {loaded or 'no model loaded'}", "cyan" if loaded else "dim")
    text.append(f" · {rate_text(backend.get('seconds_per_job'))}\n")
    text.append(f"  {load_text(backend)}\n", "dim")
    if not backend.get("up") and backend.get("reason"):
        text.append(f"  {backend['reason']}\n", "red")
    else:
        text.append(f"  {backend.get('url') or ''} · {models_text(backend.get('models'))}\n", "dim")
    return text


def choice_text(name: str, backend: dict[str, Any]) -> Text:
    """One line of the backend chooser: name, state, loaded model, load."""
    text = Text.assemble((f"{name:<14}", "bold"))
    text.append_text(state_text(backend))
    text.append(f"  {backend.get('loaded_model') or '—'}  {load_text(backend)}", "dim")
    return text
