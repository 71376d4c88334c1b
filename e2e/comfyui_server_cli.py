"""The command line of e2e/comfyui_server.py: one ComfyUI in the foreground, its log echoed, Ctrl-C stops it.

Run it as `python3 e2e/comfyui_server.py --port 8188` (that file calls main() below).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from e2e.comfyui_process import DEFAULT_CACHE, ComfyUIServer, ComfyUIServerError, log


def _follow(path: Path, start: int, stop: threading.Event) -> None:
    """Echo what is appended to `path` from byte `start` on, until `stop` is set."""
    with path.open("rb") as f:
        f.seek(start)
        while not stop.is_set():
            chunk = f.read()
            if chunk:
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
            else:
                time.sleep(0.2)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the e2e ComfyUI in the foreground (Ctrl-C stops it).")
    parser.add_argument("--port", type=int, default=None, help="loopback port (default: a free one)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--run-dir", type=Path, default=None, help="output/temp/input/user folders (default: CACHE/run)"
    )
    parser.add_argument("--log", type=Path, default=None, help="log file (default: RUN_DIR/comfyui.log)")
    parser.add_argument("--preview-method", default="latent2rgb")
    parser.add_argument("--start-timeout", type=float, default=120.0)
    parser.add_argument("--quiet", action="store_true", help="do not echo ComfyUI's log")
    parser.add_argument(
        "--extra-checkpoint",
        action="append",
        default=[],
        metavar="NAME",
        help="another name for the tiny checkpoint, listed by this ComfyUI only (repeatable): tiny-sd15-b.safetensors",
    )
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="[comfyui_server] %(message)s")

    server = ComfyUIServer(
        args.port,
        cache_dir=args.cache_dir,
        run_dir=args.run_dir,
        log_path=args.log,
        preview_method=args.preview_method,
        extra_args=extra,
        extra_checkpoints=args.extra_checkpoint,
        start_timeout=args.start_timeout,
    )
    server.log_path.parent.mkdir(parents=True, exist_ok=True)
    offset = server.log_path.stat().st_size if server.log_path.exists() else 0
    stop_echo = threading.Event()
    if not args.quiet:
        server.log_path.touch()
        threading.Thread(target=_follow, args=(server.log_path, offset, stop_echo), daemon=True).start()
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        server.start()
        log.info("ready: %s (output %s) after %.1f s", server.url, server.output_dir, server.last_start_seconds or 0)
        assert server.process is not None
        code = server.process.wait()
        log.info("ComfyUI exited with code %s", code)
        return 1 if code else 0
    except ComfyUIServerError as exc:
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        log.info("stopping")
        server.stop()
        return 0
    finally:
        time.sleep(0.3)
        stop_echo.set()
