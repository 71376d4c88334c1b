"""`pixflow-monitor`'s command line: the worker's addresses and keys, how images are drawn, then the app.

Reached through pixflow_monitor/launch.py, which checks first that the dashboard's extra is installed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
from pathlib import Path

from pixflow.client.keys import ENV_CLIENT_KEY, ENV_SERVER_KEY, client_keys
from pixflow.errors import ConfigError
from pixflow.protocol import DEFAULT_PUB_ADDR, DEFAULT_REQ_ADDR
from pixflow_monitor.app import MonitorApp
from pixflow_monitor.link import ZmqLink
from pixflow_monitor.widgets.pixel_image import graphics_image_class

GC_THRESHOLD = 20_000  # allocations between young-generation collections (CPython's default is 700)


def tune_gc() -> None:
    """Fewer and shorter collector pauses: startup objects leave the collector's sight, the young generation is
    collected less often. Under load this halves the worst frame and key latency (docs/monitor.md)."""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 50)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pixflow-monitor", description="A live dashboard of a pixflow worker.")
    # As the `pixflow` client commands: the flag, else the variable `pixflow serve` also reads, else loopback.
    req = os.environ.get("PIXFLOW_REQ_ADDR", "").strip() or DEFAULT_REQ_ADDR
    pub = os.environ.get("PIXFLOW_PUB_ADDR", "").strip() or DEFAULT_PUB_ADDR
    parser.add_argument(
        "--req-addr", default=req, help=f"worker's request socket (default: $PIXFLOW_REQ_ADDR, else {DEFAULT_REQ_ADDR})"
    )
    parser.add_argument(
        "--pub-addr", default=pub, help=f"worker's event socket (default: $PIXFLOW_PUB_ADDR, else {DEFAULT_PUB_ADDR})"
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for an answer (default 3)")
    parser.add_argument(
        "--keep-finished", type=float, default=60.0, help="seconds a finished job stays in the table (default 60)"
    )
    parser.add_argument(
        "--images",
        choices=("halfblock", "auto"),
        default="halfblock",
        help="halfblock: ▀ characters, exact everywhere (default); auto: Sixel or kitty graphics if available",
    )
    parser.add_argument(
        "--stats-file", type=Path, help="on exit, write the monitor's own responsiveness figures there (JSON)"
    )
    parser.add_argument(
        "--server-key",
        metavar="FILE",
        help=f"the worker's public key, NAME.key or 40 z85 characters (${ENV_SERVER_KEY})",
    )
    parser.add_argument("--client-key", metavar="FILE", help=f"this monitor's NAME.key_secret (${ENV_CLIENT_KEY})")
    args = parser.parse_args(argv)
    try:
        keys = client_keys(args.server_key, args.client_key)
    except (ConfigError, OSError, ValueError) as error:
        parser.error(f"CURVE keys: {error}")
    image_class = graphics_image_class() if args.images == "auto" else None
    link = ZmqLink(args.req_addr, args.pub_addr, timeout=args.timeout, keys=keys)
    app = MonitorApp(link, keep_finished=args.keep_finished, image_class=image_class)
    tune_gc()
    app.run()
    if args.stats_file is not None:
        args.stats_file.write_text(json.dumps(app.metrics.summary(), indent=2) + "\n")
    return app.return_code or 0
