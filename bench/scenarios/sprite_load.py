"""The loop while sprites are post-processed: `generate` round trips and `ping` round trips while the worker saves
about 50 sprites a second, against the same load of the same workflow without its sprite steps, in alternating
rounds (the machines drift: one round each way would compare two moments, not two workloads).

The worker runs in its own process against the replay server in another; each job's picture is a 512x512
generation (what the steps cost on), made by the replay and downloaded as a real one would be. The steps run on the
worker's file writers, never on the loop: these figures say whether they still slow it, through the GIL or the
CPU. `sprites/s` is what the worker kept up with.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import yaml

from bench.harness import REPO, Figure, ReplayProcess, WorkerProcess, percentile
from pixflow.client import Client
from pixflow.replay.server import ReplayServer

RATE = 50.0  # jobs a second submitted, each saving one sprite
SECONDS = 8.0  # per round
ROUNDS = 3  # of each workload, alternating
JOB = {"prompt": "pixel art knight", "size": [512, 512], "steps": 1}


def _workflows(directory: Path) -> Path:
    """The shipped workflows, plus `sprite_plain`: the sprite graph with no `post:` steps (the baseline)."""
    folder = directory / "workflows"
    shutil.copytree(REPO / "workflows", folder)
    spec = yaml.safe_load((folder / "sprite.yaml").read_text())
    spec = {key: value for key, value in spec.items() if key != "post"}
    spec["custom"] = {name: param for name, param in (spec.get("custom") or {}).items() if "post" not in param}
    (folder / "sprite_plain.yaml").write_text(yaml.safe_dump(spec))
    return folder


def _round(client: Client, workflow: str, prefix: str) -> tuple[list[float], list[float], float]:
    """Submit at RATE for SECONDS, pinging between submissions; wait for every job; the round trips and the rate
    at which jobs ended."""
    generate_ms, ping_ms = [], []
    start = time.monotonic()
    count = int(RATE * SECONDS)
    for index in range(count):
        due = start + index / RATE
        while time.monotonic() < due:
            before = time.perf_counter_ns()
            client.call("ping")
            ping_ms.append((time.perf_counter_ns() - before) / 1e6)
            time.sleep(min(0.004, max(0.0, due - time.monotonic())))
        before = time.perf_counter_ns()
        client.call("generate", id=f"{prefix}-{index}", workflow=workflow, **JOB)
        generate_ms.append((time.perf_counter_ns() - before) / 1e6)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        jobs = client.call("list_jobs", state=["queued", "loading", "encoding", "sampling", "decoding", "saving"])
        if jobs["total"] == 0:
            break
        time.sleep(0.05)
    return generate_ms, ping_ms, count / (time.monotonic() - start)


def sprite_loop_load(directory: Path, _: ReplayServer) -> list[Figure]:
    with ReplayProcess("cached_all") as replay:
        settings = {"workflows_dir": _workflows(directory), "max_queued": 10_000}
        with WorkerProcess(directory, replay.url, **settings) as worker, worker.client() as client:
            samples: dict[str, tuple[list[float], list[float], list[float]]] = {
                "sprite": ([], [], []),
                "sprite_plain": ([], [], []),
            }
            _round(client, "sprite", "warm")  # the first jobs pay for imports and caches
            for number in range(ROUNDS):
                for workflow in ("sprite_plain", "sprite"):
                    generate_ms, ping_ms, rate = _round(client, workflow, f"{workflow}-{number}")
                    samples[workflow][0].extend(generate_ms)
                    samples[workflow][1].extend(ping_ms)
                    samples[workflow][2].append(rate)
            failed = client.call("list_jobs", state="failed")["total"]
    (gen, ping, rates), (gen0, ping0, rates0) = samples["sprite"], samples["sprite_plain"]
    base = "the same load without sprite steps"
    figures = [
        Figure(
            "generate round trip p99, 50 sprites/s", percentile(gen, 0.99), "ms", f"{base} p99", percentile(gen0, 0.99)
        ),
        Figure(
            "generate round trip p50, 50 sprites/s", percentile(gen, 0.5), "ms", f"{base} p50", percentile(gen0, 0.5)
        ),
        Figure(
            "ping round trip p99, 50 sprites/s", percentile(ping, 0.99), "ms", f"{base} p99", percentile(ping0, 0.99)
        ),
        Figure("jobs ended per second, sprite steps", min(rates), "jobs/s", base, min(rates0), "≥ 50"),
        Figure("failed jobs under sprite load", float(failed), "jobs", "none expected", 0.0),
    ]
    return figures


def sprite_bench(directory: Path, replay: ReplayServer) -> list[Figure]:
    """`./dev bench sprites`: quality and CPU of the steps (sprites.py), then the loop under sprite load."""
    from bench.scenarios.sprites import sprite_quality_and_cost

    return sprite_quality_and_cost(directory, replay) + sprite_loop_load(directory, replay)
