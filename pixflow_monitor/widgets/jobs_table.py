"""The jobs table: one line per visible job, the cursor kept on the same job when rows come, go and move.

A Line API widget (like toolong's log view) rather than a DataTable: a row is rendered once per change of its
cells and cached, so a screen of 1,000 jobs changing 100 times a second costs a few dozen cached lines per frame.
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from pixflow.vocabulary import TERMINAL_STATES, JobState
from pixflow_monitor.format import STATE_STYLES, RowCells, row_cells
from pixflow_monitor.job_view import JobView
from pixflow_monitor.messages import JobHighlighted

ID_WIDTH, PROMPT_WIDTH = 14, 20
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("ID", "id", ID_WIDTH),
    ("Prompt", "prompt", PROMPT_WIDTH),
    ("State", "state", 10),
    ("Stage", "stage", 10),
    ("Progress", "progress", 13),
    ("ETA", "eta", 6),
    ("Backend", "backend", 9),
    ("Age", "age", 6),
)
COLUMN_KEYS = tuple(key for _, key, _ in COLUMNS)
TABLE_WIDTH = sum(width + 2 for _, _, width in COLUMNS)


def cell_style(column: str, value: str, state: str) -> str:
    if column == "id":
        return "bold"
    if column == "state":
        return STATE_STYLES.get(state, "")
    if column == "progress":
        return "green" if state == JobState.DONE else "red" if state == JobState.FAILED else "yellow"
    if value == "—" or state in TERMINAL_STATES:
        return "dim"
    return ""


class JobsTable(ScrollView, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
    ]
    COMPONENT_CLASSES = {"jobs-table--header", "jobs-table--cursor", "jobs-table--even"}
    DEFAULT_CSS = """
    JobsTable { height: 1fr; border: round $primary; border-title-color: $text; background: $surface; }
    JobsTable:focus { border: round $accent; }
    JobsTable > .jobs-table--header { text-style: bold; background: $panel; color: $text; }
    JobsTable > .jobs-table--cursor {
        background: $block-cursor-blurred-background; color: $foreground; text-style: bold;
    }
    JobsTable:focus > .jobs-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground; text-style: $block-cursor-text-style;
    }
    JobsTable > .jobs-table--even { background: $surface-darken-1 40%; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.job_ids: list[str] = []
        self._index: dict[str, int] = {}
        self._jobs: dict[str, JobView] = {}
        self._now_ms = 0
        self._cells: dict[str, tuple[int, int, RowCells]] = {}  # job id → (version, second, cells), for shown rows
        self.cursor = 0
        self._highlighted: str | None = None
        self._lines: LRUCache[tuple[object, ...], tuple[Strip, Style]] = LRUCache(4096)

    # Reading.
    @property
    def row_count(self) -> int:
        return len(self.job_ids)

    @property
    def selected_job_id(self) -> str | None:
        return self.job_ids[self.cursor] if self.job_ids else None

    def cells(self, job_id: str) -> RowCells | None:
        """The text of a shown job's row, computed when first needed after the job or the second changed."""
        job = self._jobs.get(job_id)
        if job is None:
            return None
        second = self._now_ms // 1000
        cached = self._cells.get(job_id)
        if cached is None or cached[0] != job.version or cached[1] != second:
            cached = self._cells[job_id] = (job.version, second, row_cells(job, self._now_ms, ID_WIDTH, PROMPT_WIDTH))
        return cached[2]

    # Writing.
    def sync(self, jobs: list[JobView], now_ms: int) -> None:
        """Show exactly `jobs`, in that order; the cursor stays on its job while that job is shown.

        Cells are computed lazily, for the rows on screen only: a refresh costs the same for 10 or 10,000 jobs."""
        selected = self.selected_job_id
        self._now_ms = now_ms
        self._jobs = {job.job_id: job for job in jobs}
        order = list(self._jobs)
        if order != self.job_ids:
            self.job_ids, self._index = order, {job_id: index for index, job_id in enumerate(order)}
            self._cells = {job_id: cells for job_id, cells in self._cells.items() if job_id in self._index}
            if self.virtual_size.height != len(order) + 1:
                self.virtual_size = Size(TABLE_WIDTH, len(order) + 1)
        index = self._index.get(selected, self.cursor) if selected is not None else self.cursor
        self._move(index, True)

    def select_job(self, job_id: str) -> bool:
        """Move the cursor to a job's row; False when the job is not shown."""
        if job_id not in self._index:
            return False
        self._move(self._index[job_id], False)
        return True

    def _move(self, index: int, changed: bool) -> None:
        index = max(0, min(index, len(self.job_ids) - 1))
        if index != self.cursor or changed:
            self.cursor = index
            self._scroll_to_cursor()
            self.refresh()
        job_id = self.selected_job_id
        if job_id != self._highlighted:
            self._highlighted = job_id
            self.post_message(JobHighlighted(job_id))

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    # Keys and mouse.
    def action_cursor(self, delta: int) -> None:
        self._move(self.cursor + delta, False)

    def action_page(self, direction: int) -> None:
        self._move(self.cursor + direction * max(1, self.scrollable_content_region.height - 2), False)

    def action_cursor_to(self, index: int) -> None:
        self._move(index if index >= 0 else len(self.job_ids) - 1, False)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and offset.y >= 1:
            self._move(int(self.scroll_y) + offset.y - 1, False)

    # Drawing.
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        if y == 0:
            strip, style = self._header()
        else:
            index = scroll_y + y - 1
            if index >= len(self.job_ids):
                return Strip.blank(width, self.rich_style)
            job_id = self.job_ids[index]
            cells = self.cells(job_id)
            assert cells is not None
            strip, style = self._row(cells, self._jobs[job_id].state, index == self.cursor, index % 2 == 1)
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def _header(self) -> tuple[Strip, Style]:
        key = ("header",)
        if key not in self._lines:
            style = self.rich_style + self.get_component_rich_style("jobs-table--header")
            texts = (f" {set_cell_size(label, width)} " for label, _, width in COLUMNS)
            self._lines[key] = (Strip([Segment("".join(texts), style)], TABLE_WIDTH), style)
        return self._lines[key]

    def _row(self, cells: RowCells, state: str, cursor: bool, even: bool) -> tuple[Strip, Style]:
        key = (cells, state, cursor, even, self.has_focus)
        line = self._lines.get(key)
        if line is None:
            base = self.rich_style
            if cursor:  # the cursor's own colours, for contrast; the state stays readable as a word
                base += self.get_component_rich_style("jobs-table--cursor")
                styles = [Style() for _ in COLUMNS]
            else:
                if even:
                    base += self.get_component_rich_style("jobs-table--even")
                styles = [
                    Style.parse(cell_style(column, value, state))
                    for (_, column, _), value in zip(COLUMNS, cells, strict=True)
                ]
            segments = [
                Segment(f" {set_cell_size(value, width)} ", base + style)
                for (_, _, width), value, style in zip(COLUMNS, cells, styles, strict=True)
            ]
            line = self._lines[key] = (Strip(segments, TABLE_WIDTH), base)
        return line

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
