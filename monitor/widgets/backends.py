"""The ComfyUI backends: up or down (and why), ComfyUI version, models, prompts in flight."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static


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
            backend = backends[name]
            text.append(name, "bold")
            if backend.get("up"):
                text.append("  ● up", "bold green")
            else:
                text.append("  ✖ down", "bold red")
            text.append(f"  ComfyUI {backend.get('version') or '?'}\n")
            text.append(f"  inflight {backend.get('inflight', '?')} · models {backend.get('models', '?')}\n", "dim")
            if not backend.get("up") and backend.get("reason"):
                text.append(f"  {backend['reason']}\n", "red")
            text.append(f"  {backend.get('url') or ''}\n", "dim")
        text.rstrip()
        self.update(text, layout=False)
