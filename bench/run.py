"""Run every benchmark, print a table, write JSON (bench-results/latest.json and a dated copy)."""

from __future__ import annotations

import argparse
import json
import logging
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench import scenarios
from bench.harness import REPO, Figure
from pixflow.replay.server import ReplayServer

SCENARIOS = {
    "control": scenarios.control_plane,
    "events": scenarios.event_latency,
    "gap": scenarios.idle_gap,
    "eta": scenarios.eta_error,
    "throughput": scenarios.throughput_and_memory,
    "pool": scenarios.pool_placement,  # four replay GPUs, 200 jobs: placement against two baselines
    "startup": scenarios.status_startup,  # `pixflow status` as a fresh process, against `python -c pass`
    "threads": scenarios.worker_threads,  # the worker's threads with 1, 8 and 40 replay backends
}
# Long runs, only when named: `./dev bench soak`, `./dev bench history`.
ON_DEMAND = {
    "soak": scenarios.soak,  # 100,000 jobs, RSS every 10,000 (about 10 minutes)
    "history": scenarios.long_history,  # 1,000,000 finished jobs in the store (about 2 minutes)
    # The sprite steps: cells exact vs nearest-exact and PyPI tools, CPU, the loop at 50 sprites/s (about 3 minutes)
    "sprites": scenarios.sprite_bench,
    # pixflow web: SSE latency beside ZeroMQ's, generate over HTTP beside ZeroMQ, 500 SSE clients (about 2 minutes)
    "web": scenarios.web_api,
}


def _format(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def print_table(figures: list[Figure]) -> None:
    rows = [("figure", "value", "unit", "baseline (same run)", "baseline", "ratio", "target")]
    for f in figures:
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else ""
        rows.append((f.name, _format(f.value), f.unit, f.baseline_name, _format(f.baseline), ratio, f.target))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print(
            "  ".join(
                cell.ljust(widths[i]) if i in (0, 2, 3, 6) else cell.rjust(widths[i]) for i, cell in enumerate(row)
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "only",
        nargs="*",
        metavar="SCENARIO",
        help=f"some of: {', '.join(SCENARIOS)} (default: all); on demand only: {', '.join(ON_DEMAND)}",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench-results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    known = {**SCENARIOS, **ON_DEMAND}
    unknown = set(args.only) - set(known)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {', '.join(known)}")
    chosen = args.only or list(SCENARIOS)
    figures: list[Figure] = []
    started = time.time()
    fixtures = REPO / "fixtures" / "comfyui-0.3.75"
    for name in chosen:
        print(f"running {name} ...", flush=True)
        with tempfile.TemporaryDirectory() as directory, ReplayServer(fixtures, default="cached_all") as replay:
            figures += known[name](Path(directory), replay)
    print()
    print_table(figures)
    args.out.mkdir(exist_ok=True)
    document = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "figures": [{**asdict(f), "ratio": f.ratio} for f in figures],
    }
    text = json.dumps(document, indent=2)
    (args.out / "latest.json").write_text(text)
    (args.out / f"bench-{time.strftime('%Y%m%d-%H%M%S', time.localtime(started))}.json").write_text(text)
    print(f"\nwritten to {args.out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
