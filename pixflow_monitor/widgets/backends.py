"""The ComfyUI backends: state (up, down, draining, disabled, …), loaded model, prompts in flight of the limit,
ComfyUI's own queue and the learned seconds per job (pixflow_monitor/backend_text.py)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from pixflow_monitor.backend_text import backend_text


class BackendsPanel(Static):
    DEFAULT_CSS = """
    BackendsPanel { border: round $primary 50%; border-title-color: $text-muted; padding: 0 1; }
    """

    def on_mount(self) -> None:
        self.border_title = "Backends"

    _shown: object = None

    def show(self, backends: dict[str, dict[str, Any]], up: int | None) -> None:
        """`up`: how many backends the worker counts as up (worker.stats), when it has said."""
        if (backends, up) == self._shown:
            return
        self._shown = ({name: dict(backend) for name, backend in backends.items()}, up)
        self.border_title = f"Backends: {up} of {len(backends)} up" if up is not None else "Backends"
        if not backends:
            self.update(Text("no backend reported yet", "dim"))
            return
        text = Text()
        for name in sorted(backends):
            text.append_text(backend_text(name, backends[name]))
        text.rstrip()
        self.update(text, layout=False)
