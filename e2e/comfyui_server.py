#!/usr/bin/env python3
"""Start, check and stop a real ComfyUI 0.3.75 prepared by e2e/setup_comfyui.py.

As a library (stdlib only, importable from pytest fixtures with the repo root on sys.path):

    from e2e.comfyui_server import ComfyUIServer

    server = ComfyUIServer(run_dir=tmp_path / "comfyui").start()   # free loopback port
    try:
        ... server.url ...          # "http://127.0.0.1:PORT"
        server.kill()               # SIGKILL, as if ComfyUI crashed mid-job
        server.start()              # same port, same output folder
    finally:
        server.stop()

As a command (foreground, ComfyUI's log echoed; Ctrl-C stops it):

    python3 e2e/comfyui_server.py --port 8188

This module is the stable import path: the class lives in e2e/comfyui_process.py, the command line in
e2e/comfyui_server_cli.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, only e2e/ is on sys.path: put the repo root there so the e2e.* imports below resolve.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from e2e.comfyui_process import (  # noqa: E402
    DEFAULT_CACHE,
    E2E_DIR,
    HOST,
    REPO_ROOT,
    ComfyUIServer,
    ComfyUIServerError,
    free_port,
    log,
    port_is_free,
    tail,
)
from e2e.comfyui_server_cli import main  # noqa: E402

__all__ = [
    "DEFAULT_CACHE",
    "E2E_DIR",
    "HOST",
    "REPO_ROOT",
    "ComfyUIServer",
    "ComfyUIServerError",
    "free_port",
    "log",
    "main",
    "port_is_free",
    "tail",
]

if __name__ == "__main__":
    sys.exit(main())
