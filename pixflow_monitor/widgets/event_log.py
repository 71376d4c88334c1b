"""The log of state changes, errors, connection changes and the answers to the operator's actions."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.widgets import RichLog

from pixflow_monitor.job_view import LogEntry

LEVEL_STYLES = {"info": "", "warning": "yellow", "error": "bold red", "action": "bold cyan"}


class EventLog(RichLog):
    DEFAULT_CSS = """
    EventLog { border: round $primary 50%; border-title-color: $text-muted; }
    """

    def __init__(self, max_lines: int = 1000, **kwargs: object) -> None:
        super().__init__(max_lines=max_lines, wrap=True, markup=False, highlight=False, **kwargs)  # type: ignore[arg-type]
        self.border_title = "Events"

    def add(self, entries: list[LogEntry], wall_time: Callable[[int], str]) -> None:
        """Write a batch of entries as one update."""
        if not entries:
            return
        text = Text()
        for index, entry in enumerate(entries[-self.max_lines :] if self.max_lines else entries):
            if index:
                text.append("\n")
            text.append(f"{wall_time(entry.ts)} ", "dim")
            text.append(entry.text, LEVEL_STYLES.get(entry.level, ""))
        self.write(text, scroll_end=True)
