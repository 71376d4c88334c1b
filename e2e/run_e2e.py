#!/usr/bin/env python3
"""Run the end-to-end tier: pixflow's worker against a real ComfyUI 0.3.75 on the CPU.

Stdlib only; any python3 runs it (the tests themselves run in the repo's .venv):

    python3 e2e/run_e2e.py                      # everything in tests/e2e
    python3 e2e/run_e2e.py -k cancel -x         # other arguments go to pytest
    python3 e2e/run_e2e.py --comfyui-url http://127.0.0.1:8188 -k txt2img   # a ComfyUI you started

It (1) runs e2e/setup_comfyui.py (skips what is done: well under a second once set up), (2) starts
ComfyUI on a free port with a fresh run folder, (3) runs `.venv/bin/python -m pytest tests/e2e -q
-p no:cacheprovider ...` with PIXFLOW_E2E_COMFYUI_URL set, and (4) always stops ComfyUI, also after a
failure or Ctrl-C. The exit code is pytest's (2 after Ctrl-C; 128+N if a signal N killed it), or
setup_comfyui.py's, or 1 when ComfyUI did not start.

Everything of a run stays in .cache/e2e/e2e-run/ until the next run: ComfyUI's log and output
(comfyui/), pytest's temporary folders (pytest/: each test's worker output and store, the restart
test's own ComfyUI and its log). One run at a time: a second one (another shell, another engineer)
waits for the first to end (a lock on .cache/e2e/e2e-run.lock), since each run empties that folder and
kills the ComfyUIs left in it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

E2E_DIR = Path(__file__).resolve().parent
REPO = E2E_DIR.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from e2e.comfyui_server import DEFAULT_CACHE, ComfyUIServer, ComfyUIServerError  # noqa: E402

URL_VAR = "PIXFLOW_E2E_COMFYUI_URL"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
RUN_DIR = DEFAULT_CACHE / "e2e-run"
PYTEST_ARGS = ["tests/e2e", "-q", "-p", "no:cacheprovider", "--durations=0", "--durations-min=0.05"]
SETUP_TIMEOUT = 1800.0  # a cold setup takes ~2 minutes; pip may be slower elsewhere
PYTEST_GRACE = 30.0  # seconds pytest gets to stop its workers and the restart test's ComfyUI after Ctrl-C
LOCK_PATH = DEFAULT_CACHE / "e2e-run.lock"
LOCK_TIMEOUT = 1200.0  # seconds to wait for another run to end: a full run takes 2-4 minutes
LOCK_POLL = 1.0  # seconds between attempts to take the lock while another run holds it


class Terminated(Exception):
    """SIGTERM (or SIGHUP): stop like after Ctrl-C."""


def say(message: str) -> None:
    print(f"[run_e2e] {message}", flush=True)


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signal.Signals(signum).name)


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        description="Start a real ComfyUI, run tests/e2e against it, stop it. Other arguments go to pytest.",
        allow_abbrev=False,  # else `--co` (pytest's --collect-only) would be taken for --comfyui-url
    )
    parser.add_argument("--port", type=int, default=None, help="ComfyUI's port (default: a free one)")
    parser.add_argument("--comfyui-url", default=None, help="use this running ComfyUI; start none")
    parser.add_argument("--skip-setup", action="store_true", help="do not run e2e/setup_comfyui.py first")
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=LOCK_TIMEOUT,
        help=f"seconds to wait while another run_e2e.py runs (default {LOCK_TIMEOUT:g})",
    )
    return parser.parse_known_args(argv)


def take_run_lock(timeout: float) -> int | None:
    """Hold the lock of RUN_DIR: an open file descriptor with an exclusive flock, or None after `timeout`.

    Two runs at once would wreck each other: each one empties RUN_DIR and kills every ComfyUI whose folders
    are in it. The kernel drops the lock when this process ends, however it ends (no stale lock to clean).
    """
    LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            if not told:
                holder = LOCK_PATH.read_text().strip() or "?"
                say(f"another run_e2e.py (pid {holder}) is running; waiting up to {timeout:.0f} s for it to end")
                told = True
            time.sleep(LOCK_POLL)  # flock has no timeout of its own: poll it, bounded by the deadline
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # only for the message above, in the next run
        return fd


def run_setup() -> int:
    command = [sys.executable, str(E2E_DIR / "setup_comfyui.py")]
    try:
        return subprocess.run(command, cwd=REPO, timeout=SETUP_TIMEOUT).returncode
    except subprocess.TimeoutExpired:
        say(f"setup_comfyui.py did not finish within {SETUP_TIMEOUT:.0f} s")
        return 1


def run_pytest(extra: list[str], url: str) -> int:
    """pytest in the repo's venv; its exit code.

    pytest runs in a session of its own, so a Ctrl-C in the terminal reaches only this script, which
    passes exactly one SIGINT on (also for SIGTERM): pytest then stops its workers and the restart
    test's ComfyUI and exits 2. It is killed if it takes longer than PYTEST_GRACE or on a second Ctrl-C.
    """
    env = dict(os.environ)
    env[URL_VAR] = url
    command = [str(VENV_PYTHON), "-m", "pytest", *PYTEST_ARGS, f"--basetemp={RUN_DIR / 'pytest'}", *extra]
    say(f"running: {' '.join(command[2:])}")
    process = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True)
    try:
        return process.wait()
    except (KeyboardInterrupt, Terminated) as interruption:
        say(f"interrupted ({type(interruption).__name__}); letting pytest clean up (Ctrl-C again to kill it)")
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        try:
            return process.wait(timeout=PYTEST_GRACE)
        except (subprocess.TimeoutExpired, KeyboardInterrupt, Terminated):
            say("killing pytest")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            return process.wait()


def stray_comfyuis(folder: Path) -> list[int]:
    """Pids of ComfyUI processes whose folders are under `folder` (e.g. the restart test's, had pytest been
    killed before it could stop it). Linux /proc only; elsewhere an empty list."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"main.py" in args and any(str(folder).encode() in arg for arg in args):
            pids.append(int(cmdline.parent.name))
    return pids


def stop_strays(folder: Path) -> None:
    for pid in stray_comfyuis(folder):
        say(f"stopping a ComfyUI left running by the tests (pid {pid})")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # started in a session of its own: its group is its pid


def main(argv: list[str] | None = None) -> int:
    options, pytest_args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGHUP, _raise_terminated)
    if not VENV_PYTHON.exists():
        say(f"no {VENV_PYTHON}: run ./dev (or `python3 -m venv .venv && .venv/bin/pip install -e .[dev]`) first")
        return 1
    timings: dict[str, float] = {}
    started = time.monotonic()
    code = 1
    server: ComfyUIServer | None = None
    locked = False  # RUN_DIR is ours: only then may its strays be killed
    try:
        if options.comfyui_url is None and not options.skip_setup:
            t0 = time.monotonic()
            if (setup_code := run_setup()) != 0:
                say(f"setup_comfyui.py failed (exit code {setup_code})")
                return setup_code
            timings["setup"] = time.monotonic() - t0

        t0 = time.monotonic()
        locked = take_run_lock(options.lock_timeout) is not None  # held until this process exits
        if not locked:
            say(f"another run_e2e.py still runs after {options.lock_timeout:.0f} s; giving up")
            return 1
        if (waited := time.monotonic() - t0) > LOCK_POLL:
            timings["waiting for another run"] = waited
        stop_strays(RUN_DIR)  # from an earlier run that was killed outright
        shutil.rmtree(RUN_DIR, ignore_errors=True)
        RUN_DIR.mkdir(parents=True)
        url = options.comfyui_url
        if url is None:
            t0 = time.monotonic()
            server = ComfyUIServer(options.port, run_dir=RUN_DIR / "comfyui")
            say(f"starting ComfyUI on port {server.port} (log {server.log_path})")
            try:
                server.start()
            except ComfyUIServerError as error:
                say(f"ComfyUI did not start: {error}")
                return 1
            timings["ComfyUI start"] = time.monotonic() - t0
            url = server.url
            say(f"ComfyUI {url} ready after {timings['ComfyUI start']:.1f} s")

        t0 = time.monotonic()
        try:
            code = run_pytest(pytest_args, url)
            if code < 0:  # killed by a signal: report it the way a shell does
                code = 128 - code
        finally:
            timings["pytest"] = time.monotonic() - t0
        return code
    except (KeyboardInterrupt, Terminated) as interruption:
        say(f"interrupted ({type(interruption).__name__} {interruption}); cleaning up")
        return 130 if isinstance(interruption, KeyboardInterrupt) else 143
    finally:
        # Stop ComfyUI even if another Ctrl-C or SIGTERM arrives while we do.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if server is not None:
                t0 = time.monotonic()
                server.stop()
                timings["ComfyUI stop"] = time.monotonic() - t0
                if code != 0:
                    say(f"ComfyUI's log: {server.log_path}; its last lines:\n{server.log_tail(20)}")
            if locked:
                stop_strays(RUN_DIR)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        timings["total"] = time.monotonic() - started
        say("timings: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items()))


if __name__ == "__main__":
    sys.exit(main())
