"""`pixflow demo`: a replay ComfyUI, a worker and a few jobs with live progress, then a clean stop."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from pixflow.client import Client
from pixflow.config import load_settings
from pixflow.progress_view import follow_jobs
from pixflow.replay_server import ReplayServer
from pixflow.worker import Worker

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "comfyui-0.3.75"

PROMPTS = ("pixel art knight, 16-bit sprite", "pixel art wizard, 32x32 sprite", "pixel art slime, idle frame")
# Recordings in the order the demo's prompts play them: a cold run, a partly cached one, a fully cached one.
PLAYLIST = ("fresh", "new_prompt", "cached_all")


def run_demo(output_dir: Path, speed: float = 1.0, jobs: int = 3) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    replay = ReplayServer(FIXTURES, default="fresh", speed=speed).start()
    replay.call(lambda state: state.playlist.extend(PLAYLIST[i % len(PLAYLIST)] for i in range(jobs)))
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
