"""Modal screens: help, the state filter, looking a job up by id."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from pixflow_monitor.backend_text import choice_text

FILTERS: tuple[tuple[str, str], ...] = (
    ("all", "active jobs, and finished ones until they age out"),
    ("active", "queued and running jobs only"),
    ("running", "jobs in one of the five running stages"),
    ("queued", "waiting for a backend"),
    ("done", "every finished job the monitor holds"),
    ("failed", "every failed job the monitor holds"),
    ("cancelled", "every cancelled job the monitor holds"),
)

FILTER_TITLES = {
    "all": "all (finished ones age out)",
    "active": "active",
    "running": "running",
    "queued": "queued",
    "done": "done",
    "failed": "failed",
    "cancelled": "cancelled",
}

KEYS: tuple[tuple[str, str], ...] = (
    ("↑ ↓ PgUp PgDn", "select a job (its details show on the right)"),
    ("c", "cancel the selected job (asks the worker; its answer is shown)"),
    ("r", "retry the selected failed or cancelled job: a new generate with the same parameters, new id"),
    ("p / u", "pause / resume dispatch (the worker may not support these yet: its answer is shown)"),
    ("d / x / e", "drain / disable / enable a backend: choose which (the selected job's is offered first)"),
    ("f", "filter the table by state"),
    ("g", "show only the selected job's compare group (g again: all jobs)"),
    ("/", "look a job up by id with status (also finished jobs that aged out of the table)"),
    ("w", "the workflows and their parameters (kind, range or choices, default), images, LoRAs, backends"),
    ("?", "this help"),
    ("q", "quit"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 96; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
    """

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, meaning in KEYS:
            table.add_row(key, meaning)
        about = Text(
            "\nThe top line says whether the worker answers. When it does not, the monitor keeps trying and, "
            "once it answers again, reads everything back with status and list_jobs.\n"
            "Finished jobs leave the table after a while (--keep-finished); / still finds them.\n\n"
            "Escape closes this help.",
            "dim",
        )
        with Vertical():
            yield Static(Text("pixflow-monitor keys", "bold"))
            yield Static(table)
            yield Static(about)


class FilterScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]
    DEFAULT_CSS = """
    FilterScreen { align: center middle; }
    FilterScreen > Vertical { width: 72; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
    FilterScreen OptionList { height: auto; }
    """

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        options = [Option(Text.assemble((f"{name:<10}", "bold"), (hint, "dim")), id=name) for name, hint in FILTERS]
        with Vertical():
            yield Static("Show which jobs? (Enter chooses, Escape keeps the current filter)")
            yield OptionList(*options)

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        names = [name for name, _ in FILTERS]
        option_list.highlighted = names.index(self.current) if self.current in names else 0  # a group filter: all
        option_list.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


BACKEND_VERBS = {
    "drain": "takes no new prompts; what it holds finishes there",
    "disable": "takes no new prompts; prompts waiting in its queue move to other backends",
    "enable": "takes prompts again",
}


class BackendScreen(ModalScreen[str | None]):
    """Which backend to drain, disable or enable: dismissed with its name, or None."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]
    DEFAULT_CSS = """
    BackendScreen { align: center middle; }
    BackendScreen > Vertical { width: 96; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
    BackendScreen OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, verb: str, backends: dict[str, dict[str, Any]], preferred: str | None) -> None:
        super().__init__()
        self.verb = verb
        self.backends = backends
        self.preferred = preferred

    def compose(self) -> ComposeResult:
        options = [Option(choice_text(name, self.backends[name]), id=name) for name in sorted(self.backends)]
        with Vertical():
            yield Static(f"{self.verb.capitalize()} which backend? It {BACKEND_VERBS.get(self.verb, '')}.")
            yield Static(Text("Enter asks the worker, Escape closes.", "dim"))
            yield OptionList(*options)

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        names = sorted(self.backends)
        option_list.highlighted = names.index(self.preferred) if self.preferred in names else 0
        option_list.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class FindScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]
    DEFAULT_CSS = """
    FindScreen { align: center middle; }
    FindScreen > Vertical { width: 72; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Job id to look up with status (Enter asks the worker, Escape closes)")
            yield Input(placeholder="job id", id="find-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)
