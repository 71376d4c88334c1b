"""Groups on the worker loop: when a group has ended, its contact sheet, and a `sheet` group's sprite sheet.

Runs on the loop's thread, but for the sheets themselves, which a thread of its own draws and writes; that thread
posts `SheetWritten` back through the loop's inbox and the loop publishes `group.done.<group_id>`. A sprite sheet is
drawn again each time its group ends again (a re-rolled frame). A job gets its group
when it is created (`Scheduler.create_job`); the scheduler calls `on_job_end` after each job's final state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixflow.groups.sheet import SHEET_NAME, Cell, render_sheet
from pixflow.groups.sprite_sheet import Frame, SheetLayout, frames_of, layout_of, write_sprite_sheet
from pixflow.jobs.job import Job
from pixflow.jobs.store import JobStore
from pixflow.loop.sink import EventSink
from pixflow.settings import Settings
from pixflow.vocabulary import TERMINAL_STATES, TOPIC_GROUP_DONE

log = logging.getLogger(__name__)

DEFAULT_MODEL_LABEL = "default"  # a job that used its workflow's own checkpoint


@dataclass(frozen=True)
class SheetWritten:
    """Posted by the sheet thread: the sheet is at `path`, or could not be written (`error`)."""

    group_id: str
    job_ids: tuple[str, ...]
    path: str | None
    error: str | None
    sprite_sheet: dict[str, Any] | None = None  # a `sheet` group's files (groups/sprite_sheet.py)


def cell_of(job: Job) -> Cell:
    images = [Path(o["path"]) for o in job.outputs if str(o.get("path", "")).lower().endswith((".png", ".jpg"))]
    return Cell(job.params.model or DEFAULT_MODEL_LABEL, job.params.seed, job.state, images[0] if images else None)


class GroupBook:
    def __init__(self, settings: Settings, store: JobStore, post: Callable[[SheetWritten], None]) -> None:
        self._output_dir = settings.output_dir
        self._store = store
        self._post = post
        self._publisher: EventSink | None = None
        self._find: Callable[[str], Job | None] = lambda job_id: None
        self._drawing: set[str] = set()  # groups whose sheet the thread is drawing
        self._sprite_sheets: dict[str, dict[str, Any]] = {}  # group id -> its sprite sheet's files, once drawn
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="contact-sheet")

    def bind(self, publisher: EventSink, find: Callable[[str], Job | None]) -> None:
        self._publisher, self._find = publisher, find

    def stop(self) -> None:
        """Before the inbox closes: the sheet being drawn is finished (a second or so), the others dropped."""
        self._thread.shutdown(wait=True, cancel_futures=True)

    # Membership.
    def job_ids(self, group_id: str) -> list[str]:
        return self._store.group_job_ids(group_id)

    def sheet_path(self, group_id: str) -> Path:
        return (self._output_dir / group_id / SHEET_NAME).resolve()

    def describe(self, group_id: str, job_ids: list[str]) -> dict[str, Any]:
        """What the `group` reply says about a group beside its ids: its jobs, whether all ended, the sheet."""
        jobs = [job for job_id in job_ids if (job := self._find(job_id)) is not None]
        finished = bool(jobs) and all(job.finished for job in jobs)
        sheet = self.sheet_path(group_id)
        if finished and (not sheet.exists() or (layout_of(jobs) is not None and group_id not in self._sprite_sheets)):
            self._draw(group_id, jobs)  # ended while the worker was down, or the file was removed: draw it again
        reply = {
            "jobs": [job.snapshot() for job in jobs],
            "finished": finished,
            "contact_sheet": str(sheet) if sheet.exists() else None,
        }
        if layout_of(jobs) is not None:
            reply["sprite_sheet"] = self._sprite_sheets.get(group_id) if finished else None
        return reply

    # The end of a group.
    def on_job_end(self, job: Job) -> None:
        if job.group_id is None:
            return
        jobs = [self._find(job_id) for job_id in self.job_ids(job.group_id)]
        if all(member is not None and member.finished for member in jobs):
            self._draw(job.group_id, [member for member in jobs if member is not None])

    def _draw(self, group_id: str, jobs: list[Job]) -> None:
        if group_id in self._drawing:
            return
        self._drawing.add(group_id)
        cells = [cell_of(job) for job in jobs]
        job_ids = tuple(job.job_id for job in jobs)
        layout = layout_of(jobs)
        sprite = (layout, frames_of(jobs)) if layout is not None else None
        self._thread.submit(self._render, group_id, job_ids, cells, self.sheet_path(group_id), sprite)

    def _render(
        self,
        group_id: str,
        job_ids: tuple[str, ...],
        cells: list[Cell],
        path: Path,
        sprite: tuple[SheetLayout, list[Frame]] | None,
    ) -> None:
        """On the sheet thread."""
        try:
            files = write_sprite_sheet(*sprite, path.parent) if sprite is not None else None
            written = SheetWritten(group_id, job_ids, str(render_sheet(cells, path)), None, files)
        except Exception as e:  # a full disk, a frame of another size, a bug: the group still ends, without a sheet
            log.exception("group %s: the sheet could not be written", group_id)
            written = SheetWritten(group_id, job_ids, None, f"{type(e).__name__}: {e}")
        self._post(written)

    def on_sheet(self, message: SheetWritten) -> None:
        """On the loop: publish the group's end."""
        self._drawing.discard(message.group_id)
        if message.sprite_sheet is not None:
            self._sprite_sheets[message.group_id] = message.sprite_sheet
        jobs = [job for job_id in message.job_ids if (job := self._find(job_id)) is not None]
        counts = {state: sum(1 for job in jobs if job.state == state) for state in sorted(TERMINAL_STATES)}
        fields = {"group_id": message.group_id, "job_ids": list(message.job_ids), **counts}
        fields |= {"contact_sheet": message.path, "error": message.error}
        if message.sprite_sheet is not None:
            fields["sprite_sheet"] = message.sprite_sheet
        if self._publisher is not None:
            self._publisher.publish(f"{TOPIC_GROUP_DONE}{message.group_id}", fields)
