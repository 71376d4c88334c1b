"""The workflows screen (key w): each workflow the worker offers, with its parameters as `list_workflows` types
them (kind, range or choices, default), its input images, LoRAs, and which backends can run it."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from pixflow_monitor.format import number

SHOWN_CHOICES = 8


def allowed(param: dict[str, Any]) -> str:
    """What a parameter takes, in a few words: `8..256`, `one of none, bayer-2 …`, `text`."""
    choices = param.get("choices")
    if choices is not None:
        shown = ", ".join(str(c) for c in choices[:SHOWN_CHOICES])
        more = f" … ({len(choices)} in all)" if len(choices) > SHOWN_CHOICES else ""
        return f"one of {shown}{more}" if choices else "no choice offered by any backend"
    low, high, step = param.get("min"), param.get("max"), param.get("step")
    kind = param.get("kind", "")
    if low is None and high is None:
        return {"STRING": "text", "BOOLEAN": "true or false"}.get(kind, kind.lower())
    span = f"{'' if low is None else number(low)}..{'' if high is None else number(high)}"
    return span + (f" step {number(step)}" if step not in (None, 1) else "")


def workflows_text(reply: dict[str, Any]) -> Text:
    text = Text()
    for workflow in reply.get("workflows") or []:
        default = " (default)" if workflow.get("name") == reply.get("default") else ""
        text.append(f"{workflow.get('name')}{default}", "bold")
        text.append(f"  {workflow.get('description', '')}\n")
        backends = workflow.get("backends")
        if backends is not None:
            text.append(f"  runs on: {', '.join(backends) or 'no backend'}\n", "green" if backends else "red")
        for backend, lacks in (workflow.get("missing") or {}).items():
            text.append(f"  {backend} lacks: {', '.join(lacks)}\n", "yellow")
        for param in workflow.get("parameters") or []:
            where = "params." if param.get("source") == "params" else ""
            text.append(f"    {where}{param.get('name')}", "cyan")
            text.append(f"  {param.get('kind')} {allowed(param)}  default {param.get('default')!r}")
            text.append(f"  {param.get('description', '')}\n", "dim")
        for image in workflow.get("images") or []:
            required = "required" if image.get("required") else "optional"
            text.append(f"    images.{image.get('name')}", "cyan")
            text.append(f"  image ({required})  {image.get('description', '')}\n")
        if workflow.get("max_loras"):
            text.append(f"    loras  up to {workflow['max_loras']} LoRAs\n", "cyan")
        text.append("\n")
    return text


class WorkflowsScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,w", "dismiss", "Close")]
    DEFAULT_CSS = """
    WorkflowsScreen { align: center middle; }
    WorkflowsScreen > VerticalScroll { width: 90%; height: 85%; border: thick $accent; background: $surface;
                                       padding: 0 1; }
    """

    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__()
        self.reply = reply

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text("Workflows and their parameters (Escape closes)\n", "bold"))
            yield Static(workflows_text(self.reply), id="workflows-text")
