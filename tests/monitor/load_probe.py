"""How responsive pixflow-monitor stays under load: a synthetic worker publishes `rate` events per second over
`jobs` active jobs (real ZeroMQ sockets, the real link threads), the app runs headless, and we measure

- event → table: how old the oldest event of a refresh is when the table shows it (app.metrics),
- refresh: the time the app's coalesced refresh takes (table sync, panels, log),
- frames: the time Textual's compositor takes to render each screen update, and frames per second,
- loop lag: how late a 10 ms asyncio sleep wakes up on the UI's event loop (the UI's own responsiveness),
- key → selection: a simulated ↓/↑ key until the app has moved the selection and shown the job's details.

Run it: .venv/bin/python tests/monitor/load_probe.py --seconds 20 --jobs 1000 --rate 100
(headless: everything but writing escape sequences to a terminal is measured), or with --pty: the monitor as its
own process on a pseudo-terminal, with its own CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script, the repository root is not on the path: put it there, so that `tests.` and `monitor.` import.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from textual._compositor import Compositor

from pixflow_monitor.app import MonitorApp
from pixflow_monitor.entry import tune_gc
from pixflow_monitor.link import ZmqLink
from pixflow_monitor.metrics import UiMetrics, percentiles
from tests.monitor.synthetic_worker import SyntheticWorker


async def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def _measure(app: MonitorApp, worker: SyntheticWorker, jobs: int, seconds: float) -> dict[str, Any]:
    await _wait(lambda: app.link_state == "up" and app.resync.done, 30, "the monitor to resynchronise")
    await _wait(lambda: app.table.row_count >= jobs, 30, "the table to fill")
    app.metrics = UiMetrics()
    frames: list[float] = []
    original = Compositor.render_update

    def timed_render_update(self: Compositor, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            frames.append((time.perf_counter() - started) * 1000)

    Compositor.render_update = timed_render_update  # type: ignore[method-assign]
    lags: list[float] = []
    keys: list[float] = []
    published, cpu, started = worker.published, time.process_time(), time.monotonic()
    try:
        direction = "down"
        while time.monotonic() - started < seconds:
            tick = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(max(0.0, (time.perf_counter() - tick - 0.01) * 1000))
            if len(lags) % 25 == 0:  # a key press every ~quarter second
                before = app.selected
                pressed = time.perf_counter()
                app.simulate_key(direction)
                while app.selected == before and time.perf_counter() - pressed < 5:
                    await asyncio.sleep(0.001)
                keys.append((time.perf_counter() - pressed) * 1000)
                direction = "up" if direction == "down" else "down"
    finally:
        Compositor.render_update = original  # type: ignore[method-assign]
    elapsed = time.monotonic() - started
    return {
        "seconds": round(elapsed, 1),
        "jobs_held": len(app.model.jobs),
        "rows_shown": app.table.row_count,
        "events_per_s_published": round((worker.published - published) / elapsed, 1),
        "events_per_s_received": round(app.metrics.events / elapsed, 1),
        "batches_per_s": round(app.metrics.batches / elapsed, 1),
        "refreshes_per_s": round(app.metrics.refreshes / elapsed, 1),
        "frames_per_s": round(len(frames) / elapsed, 1),
        "cpu_percent_whole_process": round(100 * (time.process_time() - cpu) / elapsed, 1),
        **_rounded(percentiles("event_to_table_ms", app.metrics.latency_ms)),
        **_rounded(percentiles("refresh_ms", app.metrics.refresh_ms)),
        **_rounded(percentiles("frame_ms", frames)),
        **_rounded(percentiles("loop_lag_ms", lags)),
        **_rounded(percentiles("key_to_selection_ms", keys)),
    }


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 1) for key, value in values.items()}


def measure_load(jobs: int = 1000, rate: float = 100.0, seconds: float = 10.0) -> dict[str, Any]:
    tune_gc()  # as pixflow-monitor's main() does
    worker = SyntheticWorker(jobs=jobs, rate=rate).start()
    app = MonitorApp(ZmqLink(worker.req_addr, worker.pub_addr, timeout=5.0))
    result: dict[str, Any] = {}

    async def main() -> None:
        async with app.run_test(size=(160, 50)):
            result.update(await _measure(app, worker, jobs, seconds))

    try:
        asyncio.run(main())
    finally:
        worker.stop()
    return result


def measure_load_in_a_terminal(jobs: int = 1000, rate: float = 100.0, seconds: float = 10.0) -> dict[str, Any]:
    """The real thing: `python -m pixflow_monitor` in its own process on a pseudo-terminal (160x50), drawing with escape
    sequences that this process reads like a terminal would; ↓/↑ typed every quarter second. Figures from the
    monitor's --stats-file, and its own CPU time (this process and the synthetic worker excluded)."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import tempfile
    import termios

    worker = SyntheticWorker(jobs=jobs, rate=rate).start()
    stats = Path(tempfile.mkdtemp()) / "stats.json"
    command = [sys.executable, "-m", "pixflow_monitor", "--req-addr", worker.req_addr, "--pub-addr", worker.pub_addr]
    pid, fd = pty.fork()
    if pid == 0:  # the child: the monitor
        os.environ["TERM"] = "xterm-256color"
        os.execv(sys.executable, [*command, "--stats-file", str(stats)])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    written = 0

    def drain(duration: float) -> None:
        nonlocal written
        end = time.monotonic() + duration
        while (left := end - time.monotonic()) > 0:
            if select.select([fd], [], [], min(left, 0.05))[0]:
                try:
                    written += len(os.read(fd, 1 << 16))
                except OSError:
                    return

    try:
        drain(5.0)  # start, connect, read 1,000 jobs
        start_bytes, started = written, time.monotonic()
        keys = 0
        while time.monotonic() - started < seconds:
            os.write(fd, b"\x1b[B" if keys % 2 == 0 else b"\x1b[A")
            keys += 1
            drain(0.25)
        elapsed = time.monotonic() - started
        os.write(fd, b"q")
        drain(2.0)
        _, status, usage = os.wait4(pid, 0)
    finally:
        worker.stop()
    figures = json.loads(stats.read_text()) if stats.exists() else {}
    return {
        "exit_status": status,
        "terminal_kib_per_s": round((written - start_bytes) / 1024 / elapsed, 1),
        "monitor_cpu_seconds_total": round(usage.ru_utime + usage.ru_stime, 1),
        **{key: round(value, 1) for key, value in figures.items()},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--pty", action="store_true", help="run `python -m pixflow_monitor` on a pseudo-terminal instead"
    )
    args = parser.parse_args()
    measure = measure_load_in_a_terminal if args.pty else measure_load
    print(json.dumps(measure(args.jobs, args.rate, args.seconds), indent=2))
