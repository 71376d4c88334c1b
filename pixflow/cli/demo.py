"""`pixflow demo`: a replay ComfyUI, a worker and a few jobs with live progress, then a clean stop."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from pixflow.cli.progress_view import follow_jobs
from pixflow.client import Client
from pixflow.config import load_settings
from pixflow.replay.server import ReplayServer
from pixflow.worker import Worker

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "comfyui-0.3.75"

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
        },
        environ={},
    )
    worker = Worker(settings)
    thread = threading.Thread(target=worker.run, name="worker")
    thread.start()
    print(f"ComfyUI stand-in (recorded runs) at {replay.url}; worker on {worker.req_endpoint} / {worker.pub_endpoint}")
    if monitor:
        try:
            return _with_monitor(worker, jobs)
        finally:
            worker.stop()
            thread.join(10)
            replay.stop()
    try:
        with Client(worker.req_endpoint, worker.pub_endpoint, timeout=10) as client:
            client.subscribe(b"job.")
            client.wait_subscribed()
            job_ids = [
                client.generate(PROMPTS[i % len(PROMPTS)], id=f"demo-{i + 1}", size=[64, 64], steps=8, seed=1000 + i)
                for i in range(jobs)
            ]
            print(f"submitted {len(job_ids)} jobs: {', '.join(job_ids)}")
            code = follow_jobs(client, job_ids, timeout=60)
    finally:
        worker.stop()
        thread.join(10)
        replay.stop()
    print(f"done; images and JSON sidecars are in {output_dir.resolve()}")
    return code


def _with_monitor(worker: Worker, jobs: int) -> int:
    """Open pixflow-monitor on the demo's worker while a thread feeds it jobs; quitting the monitor ends the demo."""
    from monitor.app import main as monitor_main

    stop = threading.Event()

    def feed() -> None:
        with Client(worker.req_endpoint, worker.pub_endpoint, timeout=10) as client:
            for i in range(jobs):
                if stop.wait(1.0):
                    return
                prompt = PROMPTS[i % len(PROMPTS)]
                client.generate(prompt, id=f"demo-{i + 1}", size=[64, 64], steps=8, seed=1000 + i, previews=True)

    feeder = threading.Thread(target=feed, name="demo-feeder", daemon=True)
    feeder.start()
    try:
        return monitor_main(["--req-addr", worker.req_endpoint, "--pub-addr", worker.pub_endpoint])
    finally:
        stop.set()
        feeder.join(5)
