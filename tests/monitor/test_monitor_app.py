"""pixflow-monitor against a real worker on the replay backend, driven through Textual's pilot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import OptionList, Static

from pixflow.replay.models import BackendProfile
from pixflow.testing import ThreadWorker
from pixflow_monitor import commands
from pixflow_monitor.app import MonitorApp
from pixflow_monitor.clock import FrozenClock
from pixflow_monitor.halfblock import as_text_lines
from pixflow_monitor.link import ZmqLink
from pixflow_monitor.screens import BackendScreen
from pixflow_monitor.widgets.connection_bar import ConnectionBar
from pixflow_monitor.widgets.jobs_table import JobsTable
from pixflow_monitor.widgets.pixel_image import PixelImage
from tests.helpers import play_next, pool_worker, run_job
from tests.monitor.monitor_fakes import RUN, T0, Scene, ScriptedLink, run_pilot, snapshot, until

SPRITE = {"prompt": "pixel art knight, 16-bit sprite", "size": [64, 64], "steps": 8}
MODEL_A, MODEL_B = "a.safetensors", "b.safetensors"


def monitor_for(running: ThreadWorker, timeout: float = 2.0, **kwargs: Any) -> MonitorApp:
    link = ZmqLink(running.req, running.pub, timeout=timeout, heartbeat=0.2)
    return MonitorApp(link, **kwargs)


async def in_sync(pilot: Pilot, app: MonitorApp) -> None:
    """Connected, resynchronised, and subscribed (a worker.stats event arrived, so no event is missed now)."""
    await until(pilot, lambda: app.link_state == "up" and app.resync.done, what="the monitor to resynchronise")
    seen = app.model.stats_seen
    await until(pilot, lambda: app.model.stats_seen > seen, what="a worker.stats event")


def row(app: MonitorApp, job_id: str) -> dict[str, str]:
    """The cells of a job's row as shown, by column; empty when the job is not shown."""
    cells = app.query_one(JobsTable).cells(job_id)
    return cells._asdict() if cells and job_id in shown_ids(app) else {}


def shown_ids(app: MonitorApp) -> list[str]:
    return list(app.query_one(JobsTable).job_ids)


def plain(app: MonitorApp, selector: str) -> str:
    content = app.query_one(selector, Static).content
    return content.plain if isinstance(content, Text) else str(content)


async def select(pilot: Pilot, app: MonitorApp, job_id: str) -> None:
    await until(pilot, lambda: app.query_one(JobsTable).select_job(job_id), what=f"{job_id} in the table")
    await until(pilot, lambda: app.selected == job_id, what=f"{job_id} selected")


def job_state(app: MonitorApp, job_id: str) -> str | None:
    job = app.model.jobs.get(job_id)
    return job.state if job else None


def stop_now(running: ThreadWorker) -> None:
    """Stop a fixture's worker in the middle of a test; the fixture's own stop then does nothing."""
    running.stop()
    running.stop = lambda: None  # type: ignore[method-assign]


def test_lists_jobs_from_before_and_after_it_started_newest_first(worker, replay):
    client = worker.client()
    run_job(client, "before-1", seed=7)
    app = monitor_for(worker)

    async def scenario(pilot: Pilot) -> None:
        await in_sync(pilot, app)
        await until(pilot, lambda: row(app, "before-1").get("state") == "done", what="before-1 read at start")
        client.call("generate", id="after-1", **{**SPRITE, "prompt": "pixel art wizard, 32x32 sprite"})
        await until(pilot, lambda: row(app, "after-1").get("backend") == "local", what="after-1's backend shown")
        await until(pilot, lambda: row(app, "after-1").get("state") == "done", what="after-1 done")
        # The prompt is in no event: it shows once the monitor's `status` of the new job is answered.
        await until(pilot, lambda: row(app, "after-1")["prompt"] == "pixel art wizard, 3…", what="after-1's prompt")
        after = row(app, "after-1")
        assert after["progress"].endswith("100%") and after["stage"] == "—"
        assert shown_ids(app)[:2] == ["after-1", "before-1"]
        log = app.query_one("#log")
        await until(pilot, lambda: any("after-1 sampling → decoding" in line.text for line in log.lines), what="log")

    run_pilot(app, scenario)


def test_live_preview_of_the_selected_job_is_drawn_with_half_blocks(worker, replay):
    client = worker.client()
    app = monitor_for(worker)

    async def scenario(pilot: Pilot) -> None:
        await in_sync(pilot, app)
        client.call("generate", id="preview-1", previews=True, **SPRITE)
        await until(pilot, lambda: (job := app.model.jobs.get("preview-1")) and job.preview, what="a preview frame")
        await select(pilot, app, "preview-1")
        view = app.query_one("#image-preview", PixelImage)
        await until(pilot, lambda: view.display and view._blocks is not None, what="the preview drawn")
        lines = as_text_lines(view._blocks.lines(view.size.width))  # type: ignore[union-attr]
        assert lines and all(set(line) <= {"▀", "▄", " "} for line in lines)
        assert "step" in plain(app, "#detail-preview") and "jpeg 512x512" in plain(app, "#detail-preview")

    run_pilot(app, scenario)


def test_failed_job_shows_its_error_and_time_in_each_stage(worker, replay):
    play_next(replay, "runtime_error")
    client = worker.client()
    app = monitor_for(worker)

    async def scenario(pilot: Pilot) -> None:
        await in_sync(pilot, app)
        client.call("generate", id="broken-1", **SPRITE)
        await until(pilot, lambda: row(app, "broken-1").get("state") == "failed", what="broken-1 failed")
        await select(pilot, app, "broken-1")
        await until(pilot, lambda: "execution_error" in plain(app, "#detail-error"), what="the error shown")
        error = plain(app, "#detail-error")
        assert "SaveImage" in error and "outside the output folder" in error and "traceback" in error
        timeline = plain(app, "#detail-timeline")
        assert all(state in timeline for state in ("queued", "sampling", "saving", "failed"))
        assert plain(app, "#detail-summary") == "failed (execution_error)"

    run_pilot(app, scenario)


def test_cancel_asks_the_worker_and_shows_its_answers(worker, replay):
    play_next(replay, "interrupt")
    client = worker.client()
    app = monitor_for(worker)

    async def scenario(pilot: Pilot) -> None:
        await in_sync(pilot, app)
        client.call("generate", id="long-1", prompt="knight", size=[64, 64], steps=20)
        await until(pilot, lambda: job_state(app, "long-1") == "sampling", what="long-1 sampling")
        await select(pilot, app, "long-1")
        await pilot.press("c")
        await until(pilot, lambda: app.answers, what="the answer to cancel")
        assert app.answers[-1].startswith("cancel long-1: cancel requested")
        await until(pilot, lambda: row(app, "long-1").get("state") == "cancelled", what="long-1 cancelled")
        await pilot.press("c")
        await until(pilot, lambda: len(app.answers) == 2, what="the answer to the second cancel")
        assert "already_finished" in app.answers[-1]

    run_pilot(app, scenario)


def test_pause_and_resume_show_the_workers_answer(worker, replay):
    client = worker.client()
    app = monitor_for(worker)

    async def scenario(pilot: Pilot) -> None:
        await in_sync(pilot, app)
        await pilot.press("p")
        await until(pilot, lambda: app.answers, what="the answer to pause")
        worker_status = client.status()
        if "paused" in worker_status:  # a worker that knows pause/resume
            assert app.answers[-1] == "pause: the worker answered: dispatch is paused"
            assert worker_status["paused"] is True
            await until(pilot, lambda: "DISPATCH PAUSED" in plain(app, "#connection"), what="the paused banner")
        else:  # one that does not: its answer, plainly
            assert "unknown_type" in app.answers[-1]
        await pilot.press("u")
        await until(pilot, lambda: len(app.answers) == 2, what="the answer to resume")
        assert app.answers[-1].startswith("resume: the worker answered")
        if "paused" in worker_status:
            assert client.status()["paused"] is False

    run_pilot(app, scenario)


def test_retry_submits_the_same_parameters_under_a_new_id(worker, replay):
    play_next(replay, "runtime_error")
    client = worker.client()
    app = monitor_for(worker)

    async def scenario(pilot: Pilot) -> None:
        await in_sync(pilot, app)
        client.call("generate", id="flaky-1", seed=4242, cfg_scale=6.5, **SPRITE)
        await until(pilot, lambda: row(app, "flaky-1").get("state") == "failed", what="flaky-1 failed")
        await select(pilot, app, "flaky-1")
        await pilot.press("r")
        await until(pilot, lambda: app.answers, what="the answer to retry")
        assert app.answers[-1].startswith("retry flaky-1: submitted as flaky-1-retry-"), app.answers
        new_id = app.answers[-1].split("submitted as ")[1].split()[0]
        await until(pilot, lambda: row(app, new_id).get("state") == "done", what="the retry done")
        retried, original = client.status(new_id), client.status("flaky-1")
        assert retried["workflow"] == original["workflow"]  # the retry names the workflow the failed job ran
        assert {**retried["params"], "workflow": None} == original["params"]
        assert original["params"]["seed"] == 4242

    run_pilot(app, scenario)


def test_filter_by_state_and_find_a_job_that_aged_out(worker, replay):
    client = worker.client()
    run_job(client, "old-1")
    play_next(replay, "runtime_error")
    run_job(client, "bad-1")
    app = monitor_for(worker, keep_finished=0)  # finished jobs leave the default view at once

    async def scenario(pilot: Pilot) -> None:
        await in_sync(pilot, app)
        await until(pilot, lambda: app.model.jobs.keys() >= {"old-1", "bad-1"}, what="both jobs known")
        assert shown_ids(app) == []
        await pilot.press("f")
        for _ in range(5):  # all, active, running, queued, done, failed
            await pilot.press("down")
        await pilot.press("enter")
        await until(pilot, lambda: shown_ids(app) == ["bad-1"], what="only the failed job shown")
        await pilot.press("f")
        await pilot.press("home", "enter")  # back to all: only the selected job stays, under the cursor
        await until(pilot, lambda: app.filter == "all" and shown_ids(app) == ["bad-1"], what="the default view")
        await pilot.press("slash")
        await pilot.press(*"old-1", "enter")
        await until(pilot, lambda: app.answers, what="the answer to status")
        assert app.answers[-1] == "status old-1: old-1 is done"
        await until(pilot, lambda: app.selected == "old-1", what="old-1 shown and selected")
        await pilot.press("slash")
        await pilot.press(*"nobody", "enter")
        await until(pilot, lambda: len(app.answers) == 2, what="the answer about an unknown job")
        assert "not_found" in app.answers[-1]

    run_pilot(app, scenario)


def test_help_lists_the_keys(worker, replay):
    app = monitor_for(worker)

    async def scenario(pilot: Pilot) -> None:
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen", what="the help screen")
        text = " ".join(plain_static(widget) for widget in app.screen.query(Static))
        assert "cancel the selected job" in text and "pause / resume dispatch" in text
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ != "HelpScreen", what="help closed")

    run_pilot(app, scenario)


def plain_static(widget: Static) -> str:
    content = widget.content
    if isinstance(content, Text):
        return content.plain
    if hasattr(content, "columns"):  # a rich Table: its cells
        return " ".join(str(cell) for column in content.columns for cell in column._cells)
    return str(content)


def test_unreachable_worker_is_said_plainly_then_it_reconnects_and_resyncs(replay, start_worker):
    first = start_worker(replay.url)
    req_addr, pub_addr = first.req, first.pub
    app = monitor_for(first, timeout=0.5)

    async def scenario(pilot: Pilot) -> None:
        await in_sync(pilot, app)
        first.client().call("generate", id="before-restart", **SPRITE)
        await until(pilot, lambda: row(app, "before-restart").get("state") == "done", what="the first job done")
        stop_now(first)
        await until(pilot, lambda: app.link_state == "down", what="the monitor to notice")
        await until(pilot, lambda: "DISCONNECTED" in plain(app, "#connection"), what="the banner")
        assert req_addr in plain(app, "#connection") and app.query_one(ConnectionBar).has_class("-down")
        await select(pilot, app, "before-restart")
        await pilot.press("c")
        await until(pilot, lambda: app.answers, what="the answer to a cancel nobody hears")
        assert app.answers[-1].startswith("cancel before-restart: no answer (timeout")
        second = start_worker(replay.url, req_addr=req_addr, pub_addr=pub_addr)
        await until(pilot, lambda: app.link_state == "up" and app.resync.done, what="reconnected and resynced")
        await until(pilot, lambda: "● connected" in plain(app, "#connection"), what="the banner gone")
        await in_sync(pilot, app)
        second.client().call("generate", id="after-restart", **SPRITE)
        await until(pilot, lambda: row(app, "after-restart").get("state") == "done", what="a job on the new worker")
        log = " ".join(line.text for line in app.query_one("#log").lines)
        assert "unreachable" in log and "worker restarted" in log

    run_pilot(app, scenario)


def test_keys_and_clicks_move_the_selection_and_it_stays_on_its_job():
    jobs = [snapshot(f"job-{index}", f"sprite {index}", T0 - 60_000 + index * 1_000, RUN[:3]) for index in range(5)]
    link = ScriptedLink(Scene(jobs))
    app = MonitorApp(link, clock=FrozenClock(T0))

    async def scenario(pilot: Pilot) -> None:
        await until(pilot, lambda: shown_ids(app) == [f"job-{index}" for index in range(4, -1, -1)], what="rows")
        await until(pilot, lambda: app.selected == "job-4", what="the newest job selected")
        await pilot.press("down", "down")
        await until(pilot, lambda: app.selected == "job-2", what="two rows down")
        await pilot.press("end")
        await until(pilot, lambda: app.selected == "job-0", what="the last row")
        await pilot.click(JobsTable, offset=(5, 3))  # border, header, then the second row
        await until(pilot, lambda: app.selected == "job-3", what="the clicked row")
        app.model.apply_snapshot(snapshot("job-9", "newest", T0, []))  # a new job arrives above
        await until(pilot, lambda: shown_ids(app)[0] == "job-9", what="the new job on top")
        assert app.selected == "job-3" and app.query_one(JobsTable).selected_job_id == "job-3"

    run_pilot(app, scenario)


@pytest.fixture
def two_gpus(tmp_path: Path) -> Iterator[ThreadWorker]:
    """A worker over two replay GPUs with one checkpoint each: a job for model B runs on gpu1 or nowhere."""
    with pool_worker(tmp_path, BackendProfile((MODEL_A,)), BackendProfile((MODEL_B,))) as running:
        yield running


def chooser_on(app: MonitorApp) -> str | None:
    """The backend the open chooser highlights, once it is mounted and takes keys; None before."""
    if not isinstance(app.screen, BackendScreen) or not app.screen.is_mounted:
        return None
    options = app.screen.query_one(OptionList)
    option = options.highlighted_option if options.has_focus else None
    return option.id if option is not None else None


def test_drain_and_enable_a_backend_from_the_dashboard(two_gpus):
    client = two_gpus.client()
    app = monitor_for(two_gpus)

    async def scenario(pilot: Pilot) -> None:
        await in_sync(pilot, app)
        await until(pilot, lambda: "gpu1  ● up" in plain(app, "#backends"), what="gpu1 shown up")
        # d: the chooser offers the backends (none selected: the first); ↓ Enter drains gpu1.
        await pilot.press("d")
        await until(pilot, lambda: chooser_on(app) == "gpu0", what="the backend chooser on gpu0")
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.answers, what="the answer to drain")
        assert app.answers[-1].startswith("drain gpu1: the worker answered: gpu1 is draining (mode draining)")
        assert client.status()["backends"][1]["mode"] == "draining"  # the worker's own word
        await until(pilot, lambda: "gpu1  ◐ draining" in plain(app, "#backends"), what="gpu1 shown draining")

        # A job only gpu1 can run waits; its detail says why, in the worker's words.
        client.call("generate", id="needs-b", model=MODEL_B, **SPRITE)
        await select(pilot, app, "needs-b")
        await until(pilot, lambda: "gpu1 draining" in plain(app, "#detail-wait"), what="the wait reason shown")
        assert job_state(app, "needs-b") == "queued"

        # e: the chooser offers the backend that is not active; Enter enables it, and the job runs there.
        await pilot.press("e")
        await until(pilot, lambda: chooser_on(app) == "gpu1", what="the backend chooser on gpu1")
        await pilot.press("enter")
        await until(pilot, lambda: len(app.answers) == 2, what="the answer to enable")
        assert app.answers[-1].startswith("enable gpu1: the worker answered: gpu1 is up (mode active)")
        await until(pilot, lambda: row(app, "needs-b").get("state") == "done", what="needs-b done")
        await until(pilot, lambda: row(app, "needs-b").get("backend") == "gpu1", what="needs-b ran on gpu1")
        wait_section = app.query_one("#detail-wait")
        await until(pilot, lambda: not wait_section.display, what="the wait reason gone from the detail pane")
        log = [line.text for line in app.query_one("#log").lines]
        assert any("backend gpu1 is draining" in line for line in log), log

    run_pilot(app, scenario)


def test_drain_of_a_backend_the_worker_does_not_know_shows_its_answer(worker, replay):
    app = monitor_for(worker)

    async def scenario(pilot: Pilot) -> None:
        await in_sync(pilot, app)
        app.send([commands.backend_mode("drain", "gpu9")])  # one the chooser would not offer: a stale name
        await until(pilot, lambda: app.answers, what="the answer to drain")
        assert app.answers[-1].startswith("drain gpu9: the worker answered not_found"), app.answers

    run_pilot(app, scenario)
