"""`pixflow health`: is the worker serving, and is every part of it well? For probes, cron and humans.

Exit 0: the worker answers and every check is ok. 1: degraded (a backend down, no backend taking new prompts
(all draining or disabled), dispatch paused, the worker stopping, the queue near max_queued). 2: the worker
does not answer. One line per check, or --json.
Imports the client only (never the worker, aiohttp or the dashboard), so it starts fast on any box.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from pixflow.client import Client, ClientError

OK, DEGRADED, DOWN = 0, 1, 2
STATUS_NAMES = {OK: "ok", DEGRADED: "degraded", DOWN: "down"}
QUEUE_NEAR_FULL = 0.9  # of max_queued: new jobs will soon be refused with queue_full


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def checks_of(worker: dict[str, Any]) -> list[Check]:
    """The checks a `worker` reply answers (see docs/protocol.md `worker`)."""
    found = [Check("worker", True, f"pixflow {worker.get('version')}, protocol {worker.get('protocol')}")]
    backends = worker.get("backends") or []
    for backend in backends:
        up = backend.get("up") is True
        where, mode = backend.get("url", ""), backend.get("mode") or "active"
        detail = f"up at {where}, {backend.get('inflight', 0)} in flight" if up else f"down: {backend.get('reason')}"
        if up and mode != "active":
            detail += f", {mode}: takes no new prompts (pixflow enable {backend.get('name')})"
        found.append(Check(f"backend {backend.get('name')}", up, detail))
    if not backends:
        found.append(Check("backends", False, "the worker has no backend"))
    else:
        found.append(_capacity(backends))
    paused = worker.get("paused") is True
    found.append(Check("dispatch", not paused, "paused: no job is handed to ComfyUI (resume)" if paused else "running"))
    stopping = worker.get("shutting_down") is True
    found.append(Check("lifecycle", not stopping, "stopping: takes no new jobs" if stopping else "serving"))
    queued, limit = worker.get("queued"), worker.get("max_queued")
    if isinstance(queued, int) and isinstance(limit, int) and limit > 0:
        near = queued >= QUEUE_NEAR_FULL * limit
        found.append(Check("queue", not near, f"{queued} of {limit} waiting" + (" (near full)" if near else "")))
    return found


def _capacity(backends: list[dict[str, Any]]) -> Check:
    """Can a new job run anywhere? A drained or disabled backend is up but takes no new prompts."""
    taking = [b for b in backends if b.get("up") is True and (b.get("mode") or "active") == "active"]
    if taking:
        return Check("capacity", True, f"{len(taking)} of {len(backends)} backends take new prompts")
    return Check("capacity", False, "no backend takes new prompts (each is down, draining or disabled): jobs wait")


def run_health(req_addr: str, pub_addr: str, timeout: float) -> tuple[int, list[Check]]:
    try:
        with Client(req_addr, pub_addr, timeout) as client:
            worker = client.status()
    except ClientError as e:
        return DOWN, [Check("worker", False, f"no answer: {e.message}")]
    found = checks_of(worker)
    return (OK if all(check.ok for check in found) else DEGRADED), found


def cmd_health(args: argparse.Namespace) -> int:
    status, found = run_health(args.req_addr, args.pub_addr, args.timeout)
    if args.json:
        checks = [asdict(check) for check in found]
        print(json.dumps({"status": STATUS_NAMES[status], "exit_code": status, "checks": checks}))
    else:
        for check in found:
            print(f"{'ok' if check.ok else 'FAIL':<5} {check.name:<20} {check.detail}")
    return status


def add_parser(commands: Any, add_client_args: Callable[[argparse.ArgumentParser], None]) -> None:
    health = commands.add_parser("health", help="exit 0 healthy, 1 degraded, 2 the worker does not answer")
    health.add_argument("--json", action="store_true", help="one JSON object instead of a line per check")
    add_client_args(health)
    health.set_defaults(run=cmd_health, timeout=3.0)
