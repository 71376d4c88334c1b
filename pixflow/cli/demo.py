"""`pixflow demo`: a replay ComfyUI, a worker and a few jobs with live progress, then a clean stop.

With --monitor the dashboard watches the jobs instead. The dashboard is a client of the worker, so pixflow
does not import it: it runs as a child process (`python -m pixflow_monitor`) in the foreground of this terminal.
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
import threading
from pathlib import Path

from pixflow.cli.progress_view import follow_jobs
from pixflow.client import Client
from pixflow.replay.recordings import DEFAULT_FIXTURES
from pixflow.replay.server import ReplayServer
from pixflow.serving.worker import Worker
from pixflow.settings import load_settings

FIXTURES = DEFAULT_FIXTURES
MONITOR_MODULE = "pixflow_monitor"  # the dashboard's package, run with `python -m`

PROMPTS = ("pixel art knight, 16-bit sprite", "pixel art wizard, 32x32 sprite", "pixel art slime, idle frame")
# Recordings in the order the demo's prompts play them: a cold run, a partly cached one, a fully cached one.
PLAYLIST = ("fresh", "new_prompt", "cached_all")


# With the monitor open, a longer stream: runs that succeed, one that fails in a node, one ComfyUI rejects.
MONITOR_PLAYLIST = (
    "fresh",
    "new_prompt",
    "fresh_preview_flags",
    "runtime_error",
    "new_prompt",
    "cached_all",
    "validation_error",
    "new_prompt",
)


def run_demo(output_dir: Path, speed: float = 1.0, jobs: int = 3, monitor: bool = False) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if monitor and importlib.util.find_spec(MONITOR_MODULE) is None:  # looks the package up without importing it
        print(
            "pixflow: demo --monitor needs the dashboard (the monitor package), which is not installed", file=sys.stderr
        )
        return 2
    replay = ReplayServer(FIXTURES, default="fresh", speed=speed).start()
    playlist = MONITOR_PLAYLIST if monitor else PLAYLIST
    replay.call(lambda state: state.playlist.extend(playlist[i % len(playlist)] for i in range(jobs)))
    settings = load_settings(
        overrides={
            "comfyui_url": replay.url,
            "req_addr": "tcp://127.0.0.1:*",
            "pub_addr": "tcp://127.0.0.1:*",
            "output_dir": output_dir,
            "stats_interval": 0.2,
            "db_path": Path(":memory:"),  # a demo leaves no job store behind
            "metrics_addr": "",  # beside a real worker on the same box
        },
        environ={},
    )
    worker = Worker(settings)
    thread = threading.Thread(target=worker.run, name="worker")
    thread.start()
    print(f"ComfyUI stand-in (recorded runs) at {replay.url}; worker on {worker.req_endpoint} / {worker.pub_endpoint}")
    try:
        code = _with_monitor(worker, jobs) if monitor else _with_progress(worker, jobs)
    finally:
        worker.stop()
        thread.join(10)
        replay.stop()
    if not monitor:
        print(f"done; images and JSON sidecars are in {output_dir.resolve()}")
    return code


def _submit(client: Client, i: int, previews: bool = False) -> str:
    prompt = PROMPTS[i % len(PROMPTS)]
    extra = {"previews": True} if previews else {}  # the dashboard shows them; the progress view does not
    return client.generate(prompt, id=f"demo-{i + 1}", size=[64, 64], steps=8, seed=1000 + i, **extra)


def _with_progress(worker: Worker, jobs: int) -> int:
    """Submit every job at once and print their progress until all have ended."""
    with Client(worker.req_endpoint, worker.pub_endpoint, timeout=10) as client:
        client.subscribe(b"job.")
        client.wait_subscribed()
        job_ids = [_submit(client, i) for i in range(jobs)]
        print(f"submitted {len(job_ids)} jobs: {', '.join(job_ids)}")
        return follow_jobs(client, job_ids, timeout=60)


def monitor_command(req_addr: str, pub_addr: str) -> list[str]:
    return [sys.executable, "-m", MONITOR_MODULE, "--req-addr", req_addr, "--pub-addr", pub_addr]


def _with_monitor(worker: Worker, jobs: int) -> int:
    """Run the dashboard on the demo's worker while a thread feeds it a job a second; quitting it ends the demo.

    The child shares this terminal (inherited stdin/stdout/stderr, same process group), so it has the keyboard;
    its exit code is the demo's.
    """
    stop = threading.Event()

    def feed() -> None:
        with Client(worker.req_endpoint, worker.pub_endpoint, timeout=10) as client:
            for i in range(jobs):
                if stop.wait(1.0):
                    return
                _submit(client, i, previews=True)

    feeder = threading.Thread(target=feed, name="demo-feeder", daemon=True)
    feeder.start()
    try:
        return subprocess.run(monitor_command(worker.req_endpoint, worker.pub_endpoint), check=False).returncode
    except KeyboardInterrupt:  # Ctrl-C reached us too: the child got it as well and ends on its own
        return 130
    finally:
        stop.set()
        feeder.join(5)
