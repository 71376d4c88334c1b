"""Snapshots of pixflow-monitor's screens (pytest-textual-snapshot). Deterministic: a scripted link with canned
worker data (fixed ids and timestamps), a frozen clock in UTC, a fixed terminal size.
Update with: .venv/bin/python -m pytest tests/monitor/test_monitor_snapshots.py --snapshot-update"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from pixflow_monitor.app import MonitorApp
from pixflow_monitor.clock import FrozenClock
from pixflow_monitor.widgets.jobs_table import JobsTable
from tests.monitor.monitor_fakes import (
    EXECUTION_ERROR,
    OUTPUT_DIR,
    RUN,
    T0,
    Scene,
    ScriptedLink,
    backend_figures,
    fake_files,
    snapshot,
    sprite_png,
    stats_event,
    until,
)

SIZE = (160, 50)
SLIME_PATH = f"{OUTPUT_DIR}/slime-003/slime-003_00.png"


def finished_jobs() -> list[dict[str, Any]]:
    done = [*RUN, ("done", 9800)]
    return [
        snapshot("knight-001", "pixel art knight, 16-bit sprite", T0 - 50_000, done, seed=1001),
        snapshot("wizard-002", "pixel art wizard, 32x32 sprite", T0 - 40_000, done, seed=1002),
        snapshot("slime-003", "pixel art slime, idle frame", T0 - 30_000, done, seed=1003, output=SLIME_PATH),
        snapshot("chest-004", "treasure chest, closed, pixel art", T0 - 20_000, [("cancelled", 300)], progress=None),
    ]


def make_app(scene: Scene, clock: FrozenClock | None = None) -> tuple[MonitorApp, ScriptedLink]:
    link = ScriptedLink(scene)
    app = MonitorApp(
        link,
        clock=clock or FrozenClock(T0),
        keep_finished=300,
        read_output=fake_files({SLIME_PATH: sprite_png()}),
    )
    return app, link


async def settle(pilot: Pilot, app: MonitorApp, link: ScriptedLink, select: str | None = None) -> None:
    """Wait until the scripted worker has said everything and the app has drawn it."""
    await until(pilot, link.events_posted.is_set, what="the scripted events")
    if link.scene.go_down:
        await until(pilot, lambda: app.link_state == "down", what="the link to go down")
    await until(pilot, lambda: not app.model.wanted and not app._asking, what="the status answers")
    if select is not None:
        await until(pilot, lambda: app.query_one(JobsTable).select_job(select), what=f"{select} in the table")
        await until(pilot, lambda: app.selected == select, what=f"{select} selected")
    app.refresh_views()
    await pilot.pause()


def test_main_screen_with_finished_jobs(snap_compare):
    jobs = finished_jobs()
    app, link = make_app(Scene(jobs, events=[stats_event(jobs, T0 - 500)]))

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot, app, link, select="slime-003")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_job_detail_with_a_live_preview(snap_compare):
    jobs = [
        *finished_jobs()[:2],
        snapshot("goblin-005", "goblin merchant, pixel art", T0 - 6_000, RUN[:3], previews=True, progress=(4, 8)),
    ]
    seq = jobs[-1]["seq"]
    preview = {"ts": T0 - 1_000, "job_id": "goblin-005", "node": "3", "step": 5, "format": "png"}
    events = [
        (
            "job.progress.goblin-005",
            {
                "ts": T0 - 1_100,
                "job_id": "goblin-005",
                "seq": seq + 1,
                "stage": "sampling",
                "node": "3",
                "value": 5,
                "max": 8,
            },
        ),
        ("job.preview.goblin-005", {**preview, "seq": seq + 2, "image": sprite_png()}),
        stats_event(jobs, T0 - 500),
    ]
    app, link = make_app(Scene(jobs, events=events))

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot, app, link, select="goblin-005")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_failed_job(snap_compare):
    failed = snapshot(
        "dragon-006", "red dragon, breathing fire, 32x32", T0 - 15_000, [*RUN, ("failed", 9700)], error=EXECUTION_ERROR
    )
    jobs = [*finished_jobs()[:3], failed]
    app, link = make_app(Scene(jobs, events=[stats_event(jobs, T0 - 500)]))

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot, app, link, select="dragon-006")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_disconnected(snap_compare):
    running = snapshot("golem-007", "stone golem, walking cycle", T0 - 4_000, RUN[:3], progress=(3, 8))
    queued = snapshot("bat-008", "cave bat, flying, 4 frames", T0 - 2_000, [], progress=None)
    jobs = [*finished_jobs()[:2], running, queued]
    clock = FrozenClock(T0)
    app, link = make_app(Scene(jobs, events=[stats_event(jobs, T0 - 500)], go_down="no reply within 3s"), clock)

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot, app, link, select="golem-007")
        clock.advance(12)  # twelve seconds without an answer
        app.refresh_views()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_a_pool_with_a_draining_backend_and_a_job_waiting_for_it(snap_compare):
    """Two GPUs, one drained by an operator: the panel shows each one's state, loaded model, load and speed; the
    selected queued job says why it waits."""
    reason = "every backend that can run it is down or not taking jobs: gpu1 draining"
    waiting = snapshot("bat-008", "cave bat, flying, 4 frames", T0 - 2_000, [], progress=None, wait_reason=reason)
    jobs = [*finished_jobs()[:2], waiting]
    pool = [
        backend_figures("gpu0", loaded_model="a.safetensors", models=2, seconds_per_job=1.42, jobs_done=40),
        backend_figures(
            "gpu1",
            url="http://10.0.0.5:8189",
            state="draining",
            mode="draining",
            loaded_model="b.safetensors",
            inflight=1,
            max_inflight=1,
            queue_remaining=2,
            seconds_per_job=2.35,
        ),
    ]
    topic, stats = stats_event(jobs, T0 - 500)
    app, link = make_app(Scene(jobs, events=[(topic, {**stats, "backends_up": 2})], backends=pool))

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot, app, link, select="bat-008")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
