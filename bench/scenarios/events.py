"""Event delivery: latency from a ComfyUI frame to a PUB subscriber, and the idle gap between prompts."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from bench.harness import REPO, Figure, ReplayProcess, WorkerProcess, percentile
from bench.scenarios.common import GENERATE, p50_p99, send_log
from bench.scenarios.direct import DirectClient
from pixflow.replay.server import ReplayServer


def _control(replay: ReplayProcess, route: str, body: dict[str, Any]) -> Any:
    return requests.post(f"{replay.url}/replay/{route}", json=body, timeout=10).json()


def _progress_sent(replay: ReplayProcess) -> dict[tuple[str, int], int]:
    log = requests.get(f"{replay.url}/replay/send_log", timeout=10).json()["log"] or []
    return {(pid, value): t for t, pid, kind, value in log if kind == "progress"}


def _direct_client_latency(replay: ReplayProcess, recording: str, jobs: int) -> list[float]:
    """The floor for event latency: a bare websocket-client reading the same frames from the same server."""
    received: dict[tuple[str, int], int] = {}
    _control(replay, "playlist", {"recordings": [recording] * jobs})
    client = DirectClient(replay)
    try:
        for _ in range(jobs):
            client.run(lambda prompt_id, value: received.__setitem__((prompt_id, value), time.monotonic_ns()))
    finally:
        client.close()
    sent = _progress_sent(replay)
    return [(received[key] - sent[key]) / 1e6 for key in received if key in sent]


def event_latency(directory: Path, _: ReplayServer, jobs: int = 24) -> list[Figure]:
    """The replay server runs in its own process (as in the throughput scenario): in the bench's process its
    sending would share a GIL with the subscriber whose receive times are measured (monotonic clocks are the
    same across processes)."""
    with ReplayProcess("cached_all") as replay:
        return _event_latency(directory, replay, jobs)


def _event_latency(directory: Path, replay: ReplayProcess, jobs: int) -> list[Figure]:
    _control(replay, "speed", {"speed": 1.0})
    _control(replay, "send_log", {"record": True})
    floor = _direct_client_latency(replay, "new_prompt", jobs)
    _control(replay, "send_log", {"record": True})
    received: dict[tuple[str, int], int] = {}
    with WorkerProcess(directory, replay.url) as worker, worker.client() as client:
        client.subscribe(b"job.progress.", b"job.state.")
        client.wait_subscribed()
        _control(replay, "playlist", {"recordings": ["new_prompt"] * jobs})
        ids = [
            client.call("generate", **{k: v for k, v in GENERATE.items() if k not in ("type", "v")}, id=f"lat-{i}")[
                "job_id"
            ]
            for i in range(jobs)
        ]
        prompts = {job_id: client.status(job_id)["prompt_id"] for job_id in ids}
        done = 0
        while done < jobs:
            topic, event = client.next_event(30)
            now = time.monotonic_ns()
            if topic.startswith("job.progress."):
                received[(prompts[event["job_id"]], event["value"])] = now
            elif event.get("to") in ("done", "failed"):
                done += 1
    sent = _progress_sent(replay)
    samples = [(received[key] - sent[key]) / 1e6 for key in received if key in sent]
    return p50_p99(
        "event latency, ComfyUI frame → PUB subscriber",
        samples,
        "same frame → bare WebSocket client",
        floor,
        "<= 2x",
        "<= 3x",
    )


def _gaps(replay: ReplayServer) -> list[float]:
    """Milliseconds between one prompt's last event and the next prompt's first, on the server."""
    log = send_log(replay)
    ends = [t for t, _, kind, _ in log if kind == "executing"]
    starts = [t for t, _, kind, _ in log if kind == "execution_start"]
    return [(start - end) / 1e6 for end, start in zip(ends, starts[1:], strict=False)]


def idle_gap(directory: Path, replay: ReplayServer, jobs: int = 8) -> list[Figure]:
    replay.call(lambda state: (setattr(state, "speed", 1.0), setattr(state, "send_log", [])))
    # The obvious alternative: submit, poll /history every 100 ms, then submit the next one.
    graph = json.loads((REPO / "workflows" / "txt2img.json").read_text())
    replay.call(lambda state: state.playlist.extend(["new_prompt"] * jobs))
    session = requests.Session()
    for _ in range(jobs):
        prompt_id = str(uuid.uuid4())
        session.post(f"{replay.url}/prompt", json={"prompt": graph, "prompt_id": prompt_id}, timeout=10)
        while not session.get(f"{replay.url}/history/{prompt_id}", timeout=10).json():
            time.sleep(0.1)
    polling = _gaps(replay)
    replay.call(lambda state: setattr(state, "send_log", []))
    with WorkerProcess(directory, replay.url) as worker, worker.client() as client:
        client.subscribe(b"job.state.")
        client.wait_subscribed()
        replay.call(lambda state: state.playlist.extend(["new_prompt"] * jobs))
        for i in range(jobs):
            client.call("generate", **{k: v for k, v in GENERATE.items() if k not in ("type", "v")}, id=f"gap-{i}")
        done = 0
        while done < jobs:
            _, _event = client.next_event(30, want=lambda topic, e: e.get("to") in ("done", "failed"))
            done += 1
    gaps = _gaps(replay)
    replay.call(lambda state: (setattr(state, "speed", 0.0), setattr(state, "send_log", None)))
    return [
        Figure(
            "idle gap between prompts p50",
            percentile(gaps, 0.5),
            "ms",
            "client polling /history @100 ms p50",
            percentile(polling, 0.5),
        ),
        Figure(
            "idle gap between prompts max",
            max(gaps),
            "ms",
            "client polling /history @100 ms max",
            max(polling),
            "< 5 ms",
        ),
    ]
