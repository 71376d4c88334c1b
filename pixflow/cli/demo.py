"""`pixflow demo`: a replay ComfyUI, a worker and a few jobs with live progress, then a clean stop.

With --monitor the dashboard watches the jobs instead. The dashboard is a client of the worker, so pixflow
does not import it: it runs as a child process (`python -m pixflow_monitor`) in the foreground of this terminal.
With --web `pixflow web` (also a client of the worker, also a child process) serves the console on a free loopback
port (or --web-port) while the jobs run, and the demo goes on until Ctrl-C. On loopback without a tokens file every
caller is admin (docs/web.md), so its URL needs no token.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
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
WEB_MODULE = "pixflow_web"  # the web server's package, run as `python -m pixflow web`
WEB_READY = "pixflow web: serving "  # the line `pixflow web` prints once it listens
WEB_START_TIMEOUT = 30.0

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


def run_demo(
    output_dir: Path,
    speed: float = 1.0,
    jobs: int = 3,
    monitor: bool = False,
    web: bool = False,
    web_port: int = 0,
) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if monitor and importlib.util.find_spec(MONITOR_MODULE) is None:  # looks the package up without importing it
        print(
            "pixflow: demo --monitor needs the dashboard (the monitor package), which is not installed", file=sys.stderr
        )
        return 2
    if web and (importlib.util.find_spec(WEB_MODULE) is None or importlib.util.find_spec("aiohttp") is None):
        print("pixflow: demo --web needs the web server: pip install 'pixflow[web]'", file=sys.stderr)
        return 2
    if web and monitor:
        print("pixflow: demo takes --web or --monitor, not both", file=sys.stderr)
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
        if web:
            code = _with_web(worker, jobs, web_port)
        else:
            code = _with_monitor(worker, jobs) if monitor else _with_progress(worker, jobs)
    finally:
        worker.stop()
        thread.join(10)
        replay.stop()
    if not monitor and code != 2:  # 2: the web server did not start, no job ran
        print(f"done; images and JSON sidecars are in {output_dir.resolve()}")
    return code


def _submit(client: Client, i: int, previews: bool = False) -> str:
    prompt = PROMPTS[i % len(PROMPTS)]
    extra = {"previews": True} if previews else {}  # the dashboard shows them; the progress view does not
    return client.generate(prompt, id=f"demo-{i + 1}", size=[64, 64], steps=8, seed=1000 + i, **extra)


def _with_progress(worker: Worker, jobs: int, previews: bool = False) -> int:
    """Submit every job at once and print their progress until all have ended."""
    with Client(worker.req_endpoint, worker.pub_endpoint, timeout=10) as client:
        client.subscribe(b"job.")
        client.wait_subscribed()
        job_ids = [_submit(client, i, previews=previews) for i in range(jobs)]
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


def web_command(req_addr: str, pub_addr: str, port: int = 0) -> list[str]:
    listen = f"127.0.0.1:{port}"  # loopback: no tokens file needed, every caller is admin
    return [sys.executable, "-m", "pixflow", "web", "--listen", listen, "--req-addr", req_addr, "--pub-addr", pub_addr]


def _start_web(worker: Worker, port: int) -> tuple[subprocess.Popen[str], str]:
    """`pixflow web` as a child process on the demo's worker; its URL once it listens (from the line it prints)."""
    # The demo's worker has no CURVE: keys meant for another worker must not reach the web server.
    env = {k: v for k, v in os.environ.items() if k not in ("PIXFLOW_SERVER_KEY", "PIXFLOW_CLIENT_KEY")}
    child = subprocess.Popen(
        web_command(worker.req_endpoint, worker.pub_endpoint, port),
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:  # the child's first line gives the URL; the rest goes on to this terminal
        assert child.stdout is not None
        for line in child.stdout:
            if not found and line.startswith(WEB_READY):
                found.append(line[len(WEB_READY) :].split()[0])
                ready.set()
            else:
                print(line, end="", flush=True)
        ready.set()

    threading.Thread(target=read, name="demo-web-output", daemon=True).start()
    try:
        started = ready.wait(WEB_START_TIMEOUT) and bool(found)
    except BaseException:  # Ctrl-C while it starts
        _stop_web(child)
        raise
    if not started:
        _stop_web(child)
        raise RuntimeError(f"pixflow web did not start (exit code {child.poll()})")
    return child, found[0]


def _stop_web(child: subprocess.Popen[str]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGINT)  # it stops on SIGINT or SIGTERM (a Ctrl-C may have done it)
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


def _with_web(worker: Worker, jobs: int, port: int) -> int:
    """The console on the demo's worker while the jobs run, then until Ctrl-C (which ends the demo with 0)."""
    try:
        child, url = _start_web(worker, port)
    except RuntimeError as e:
        print(f"pixflow: demo --web: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    try:
        print(f"web console at {url}/  (no token needed on loopback; Ctrl-C ends the demo)", flush=True)
        code = _with_progress(worker, jobs, previews=True)
        print(f"the console stays at {url}/ until Ctrl-C", flush=True)
        while child.poll() is None:
            threading.Event().wait(0.5)
        print(f"pixflow: demo --web: the web server ended (exit code {child.returncode})", file=sys.stderr)
        return code or 1
    except KeyboardInterrupt:  # the way this demo ends
        return 0
    finally:
        _stop_web(child)
