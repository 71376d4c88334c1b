"""The benchmark scenarios. Each returns Figures: a measurement and its baseline from the same run."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import requests
import websocket
import zmq

from bench.harness import REPO, EchoServer, Figure, ReplayProcess, WorkerProcess, percentile, wait_until
from pixflow.protocol import pack, unpack
from pixflow.replay.server import ReplayServer

GENERATE = {"type": "generate", "v": 1, "prompt": "pixel art knight", "size": [64, 64], "steps": 8}


def _req_socket(addr: str) -> zmq.Socket:
    socket = zmq.Context.instance().socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVTIMEO, 5000)
    socket.connect(addr)
    return socket


def _round_trips(addr: str, messages: list[bytes], warmup: int = 200) -> list[float]:
    """Milliseconds per request/reply, one at a time over a REQ socket."""
    socket = _req_socket(addr)
    try:
        for message in messages[:warmup]:
            socket.send(message)
            socket.recv()
        samples = []
        for message in messages[warmup:]:
            start = time.perf_counter_ns()
            socket.send(message)
            socket.recv()
            samples.append((time.perf_counter_ns() - start) / 1e6)
        return samples
    finally:
        socket.close(0)


def _p50_p99(name: str, samples: list[float], base_name: str, base: list[float], target: str) -> list[Figure]:
    return [
        Figure(f"{name} p50", percentile(samples, 0.50), "ms", f"{base_name} p50", percentile(base, 0.50)),
        Figure(f"{name} p99", percentile(samples, 0.99), "ms", f"{base_name} p99", percentile(base, 0.99), target),
    ]


def _sqlite_commits(directory: Path, count: int) -> list[float]:
    """The storage floor of a durable generate: one committed row of the same size, same settings, same disk."""
    import sqlite3

    db = sqlite3.connect(str(directory / "floor.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE jobs (job_id TEXT PRIMARY KEY, body TEXT)")
    body = (REPO / "workflows" / "txt2img.json").read_text() * 2
    samples = []
    for i in range(count):
        start = time.perf_counter_ns()
        db.execute("INSERT INTO jobs VALUES (?, ?)", (f"job-{i}", body))
        samples.append((time.perf_counter_ns() - start) / 1e6)
    db.close()
    return samples


def control_plane(directory: Path, replay: ReplayServer, count: int = 3000) -> list[Figure]:
    ping = pack({"type": "ping", "v": 1})
    commit_samples = _sqlite_commits(directory, count)
    with EchoServer() as echo:
        echo_samples = _round_trips(echo.addr, [ping] * (count + 200))
    with WorkerProcess(directory, replay.url) as worker, worker.client() as client:
        ping_samples = _round_trips(worker.req, [ping] * (count + 200))
        client.call("generate", id="status-probe", **{k: v for k, v in GENERATE.items() if k not in ("type", "v")})
        wait_until(lambda: client.status("status-probe")["state"] == "done", 10, "the probe job")
        status = pack({"type": "status", "v": 1, "job_id": "status-probe"})
        status_samples = _round_trips(worker.req, [status] * (count + 200))
        client.call("pause")  # generate's cost alone: validate, commit, reply; nothing is dispatched
        generates = [pack({**GENERATE, "id": f"gen-{i}"}) for i in range(count + 200)]
        generate_samples = _round_trips(worker.req, generates)
    return [
        *_p50_p99("ping round trip", ping_samples, "bare REQ/ROUTER echo", echo_samples, "p99 < 1 ms, < 2x echo"),
        *_p50_p99("status round trip", status_samples, "bare REQ/ROUTER echo", echo_samples, "p99 < 1 ms"),
        *_p50_p99(
            "generate round trip (durable)", generate_samples, "bare REQ/ROUTER echo", echo_samples, "p99 < 2 ms"
        ),
        *_p50_p99(
            "generate round trip (durable)", generate_samples, "bare SQLite commit, same disk", commit_samples, ""
        ),
    ]


def _send_log(replay: ReplayServer) -> list[tuple[int, str, str, Any]]:
    return replay.call(lambda state: list(state.send_log))


class DirectClient:
    """A client of ComfyUI's own API with no pixflow in between: the baselines of the latency and throughput
    figures. One WebSocket, one HTTP session, prompts submitted one at a time."""

    def __init__(self, replay: ReplayServer | ReplayProcess) -> None:
        self.url = replay.url
        self.client_id = uuid.uuid4().hex
        self.ws = websocket.create_connection(
            f"ws://{replay.host}:{replay.port}/ws?clientId={self.client_id}", timeout=10
        )
        self.session = requests.Session()
        self.graph = json.loads((REPO / "workflows" / "txt2img.json").read_text())

    def close(self) -> None:
        self.ws.close()
        self.session.close()

    def run(self, on_progress: Any = None) -> str:
        """Submit one prompt and read frames until it ends; on_progress(prompt_id, value) for each step."""
        prompt_id = str(uuid.uuid4())
        body = {"prompt": self.graph, "client_id": self.client_id, "prompt_id": prompt_id}
        self.session.post(f"{self.url}/prompt", json=body, timeout=10)
        while True:
            message = self.ws.recv()
            if isinstance(message, bytes):
                continue
            data = json.loads(message)
            kind, fields = data["type"], data.get("data") or {}
            if kind == "progress" and on_progress is not None:
                on_progress(fields["prompt_id"], fields["value"])
            if kind == "executing" and fields.get("node") is None and fields.get("prompt_id") == prompt_id:
                return prompt_id

    def save_outputs(self, prompt_id: str, out: Path) -> None:
        entry = self.session.get(f"{self.url}/history/{prompt_id}", timeout=10).json()[prompt_id]
        for node_output in entry["outputs"].values():
            for index, image in enumerate(node_output["images"]):
                data = self.session.get(f"{self.url}/view", params=image, timeout=10).content
                (out / f"{prompt_id}_{index}.png").write_bytes(data)


def _direct_client_latency(replay: ReplayServer, recording: str, jobs: int) -> list[float]:
    """The floor for event latency: a bare websocket-client reading the same frames from the same server."""
    received: dict[tuple[str, int], int] = {}
    replay.call(lambda state: state.playlist.extend([recording] * jobs))
    client = DirectClient(replay)
    try:
        for _ in range(jobs):
            client.run(lambda prompt_id, value: received.__setitem__((prompt_id, value), time.monotonic_ns()))
    finally:
        client.close()
    sent = {(pid, value): t for t, pid, kind, value in _send_log(replay) if kind == "progress"}
    return [(received[key] - sent[key]) / 1e6 for key in received if key in sent]


def event_latency(directory: Path, replay: ReplayServer, jobs: int = 12) -> list[Figure]:
    replay.call(lambda state: (setattr(state, "speed", 1.0), setattr(state, "send_log", [])))
    floor = _direct_client_latency(replay, "new_prompt", jobs)
    replay.call(lambda state: setattr(state, "send_log", []))
    received: dict[tuple[str, int], int] = {}
    with WorkerProcess(directory, replay.url) as worker, worker.client() as client:
        client.subscribe(b"job.progress.", b"job.state.")
        client.wait_subscribed()
        replay.call(lambda state: state.playlist.extend(["new_prompt"] * jobs))
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
    sent = {(pid, value): t for t, pid, kind, value in _send_log(replay) if kind == "progress"}
    samples = [(received[key] - sent[key]) / 1e6 for key in received if key in sent]
    replay.call(lambda state: (setattr(state, "speed", 0.0), setattr(state, "send_log", None)))
    return _p50_p99(
        "event latency, ComfyUI frame → PUB subscriber",
        samples,
        "same frame → bare WebSocket client",
        floor,
        "p99 < 2 ms",
    )


def _gaps(replay: ReplayServer) -> list[float]:
    """Milliseconds between one prompt's last event and the next prompt's first, on the server."""
    log = _send_log(replay)
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


def _direct_jobs_per_second(replay: ReplayServer | ReplayProcess, directory: Path, jobs: int) -> float:
    """The obvious alternative without pixflow: submit, wait for the end on the WebSocket, fetch, save."""
    out = directory / "direct"
    out.mkdir(parents=True, exist_ok=True)
    client = DirectClient(replay)
    start = time.perf_counter()
    try:
        for _ in range(jobs):
            client.save_outputs(client.run(), out)
    finally:
        client.close()
    return jobs / (time.perf_counter() - start)


def throughput_and_memory(directory: Path, _: ReplayServer, jobs: int = 10_000) -> list[Figure]:
    """Zero-delay replay of a fully cached run: pixflow's own cost per job. Memory after 5,000 and 10,000.
    The replay server runs in its own process here, so the load generator does not slow it down."""
    with ReplayProcess("cached_all") as replay:
        return _throughput_and_memory(directory, replay, jobs)


WINDOW = 200  # jobs outstanding at once in the throughput run


def _throughput_and_memory(directory: Path, replay: ReplayProcess, jobs: int) -> list[Figure]:
    direct = _direct_jobs_per_second(replay, directory, 300)
    half = jobs // 2
    with WorkerProcess(directory, replay.url, max_queued=jobs) as worker, worker.client(timeout=30) as client:
        client.subscribe(b"job.state.")
        client.wait_subscribed()
        rss_start = worker.rss_mb()
        dealer = zmq.Context.instance().socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(worker.req)
        body = {k: v for k, v in GENERATE.items() if k not in ("type", "v")}
        marks = {}
        sent = done = 0
        try:
            cpu_start, start = worker.cpu_seconds(), time.perf_counter()
            # A steady stream, WINDOW jobs outstanding at a time: what a busy worker sees, not one burst.
            while done < jobs:
                while sent < jobs and sent - done < WINDOW:
                    dealer.send_multipart([b"", pack({"type": "generate", "v": 1, "id": f"tp-{sent}", **body})])
                    sent += 1
                while dealer.poll(0):
                    assert unpack(dealer.recv_multipart()[-1])["type"] == "accepted"
                client.next_event(60, want=lambda topic, e: e.get("to") in ("done", "failed"))
                done += 1
                if done in (half, jobs):
                    marks[0 if done == half else 1] = (time.perf_counter(), worker.cpu_seconds(), worker.rss_mb())
        finally:
            dealer.close(0)
    elapsed = marks[1][0] - start
    cpu_ms_per_job = (marks[1][1] - cpu_start) * 1000 / jobs
    return [
        Figure(
            "throughput, zero-delay replay",
            jobs / elapsed,
            "jobs/s",
            "direct client, no pixflow",
            direct,
            ">= 300 jobs/s",
        ),
        Figure("worker CPU per job", cpu_ms_per_job, "ms", "(none)", None),
        Figure(f"worker RSS after {half:,} jobs", marks[0][2], "MB", "RSS at start", rss_start),
        Figure(f"worker RSS after {jobs:,} jobs", marks[1][2], "MB", f"RSS after {half:,} jobs", marks[0][2], "flat"),
    ]


def eta_error(directory: Path, replay: ReplayServer, jobs: int = 6) -> list[Figure]:
    """ETA error at 25, 50 and 75 % of real recorded runs (recorded timing): first with defaults only, then
    with what the worker learned from earlier jobs of the same shape."""
    replay.call(lambda state: setattr(state, "speed", 1.0))
    playlist = ["new_prompt"] * jobs
    errors: dict[int, dict[float, float]] = {}
    with WorkerProcess(directory, replay.url) as worker, worker.client() as client:
        client.subscribe(b"job.progress.", b"job.state.")
        client.wait_subscribed()
        for index, recording in enumerate(playlist):
            replay.call(lambda state, name=recording: state.playlist.append(name))
            job_id = f"eta-{index}"
            client.call("generate", **{k: v for k, v in GENERATE.items() if k not in ("type", "v")}, id=job_id)
            samples: list[tuple[float, float]] = []  # (time, eta)
            while True:
                _topic, event = client.next_event(30, want=lambda t, e, job_id=job_id: e.get("job_id") == job_id)
                now = time.monotonic()
                if event.get("eta") is not None and event.get("to") != "queued":
                    samples.append((now, event["eta"]))
                if event.get("to") in ("done", "failed"):
                    break
            start, end = samples[0][0], samples[-1][0]
            errors[index] = {}
            for share in (0.25, 0.5, 0.75):
                moment = start + share * (end - start)
                seen_at, eta = max((s for s in samples if s[0] <= moment), key=lambda s: s[0])
                predicted = eta - (moment - seen_at)
                errors[index][share] = abs(predicted - (end - moment)) / (end - start) * 100
    replay.call(lambda state: setattr(state, "speed", 0.0))
    learned = range(1, jobs)  # every job after the first of its shape has finished
    return [
        Figure(
            f"ETA error at {int(share * 100)} % of the run (learned)",
            sum(errors[i][share] for i in learned) / len(learned),
            "% of run",
            "defaults only (first job of its shape)",
            errors[0][share],
        )
        for share in (0.25, 0.5, 0.75)
    ]
