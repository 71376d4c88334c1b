"""Throughput: a sparkline of jobs finished per minute, and the worker's own counts (worker.stats)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

MINUTES = 30


class ThroughputPanel(Vertical):
    DEFAULT_CSS = """
    ThroughputPanel { border: round $primary 50%; border-title-color: $text-muted; padding: 0 1; height: auto; }
    ThroughputPanel Sparkline { height: 3; margin: 0 0 1 0; }
    ThroughputPanel .caption { color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="throughput-caption", classes="caption")
        yield Sparkline([0] * MINUTES, id="throughput-spark")
        yield Static(id="throughput-counts")

    def on_mount(self) -> None:
        self.border_title = "Throughput"

    _shown: object = None

    def show(self, per_minute: list[int], counts: dict[str, int]) -> None:
        if (per_minute, counts) == self._shown:
            return
        self._shown = (per_minute, counts)
        last, peak = per_minute[-1] if per_minute else 0, max(per_minute, default=0)
        self.query_one("#throughput-caption", Static).update(f"finished per minute ({MINUTES} min)", layout=False)
        self.query_one("#throughput-spark", Sparkline).data = [float(n) for n in per_minute]
        text = Text()
        for name, style, end in (
            ("queued", "", "  "),
            ("running", "yellow", "  "),
            ("done", "green", "\n"),
            ("failed", "red", "  "),
            ("cancelled", "magenta", "\n"),
        ):
            text.append(f"{name} ", "dim")
            text.append(str(counts.get(name, 0)), style)
            text.append(end)
        text.append("this minute ", "dim")
        text.append(f"{last}  ")
        text.append("peak ", "dim")
        text.append(f"{peak}")
        self.query_one("#throughput-counts", Static).update(text, layout=False)
