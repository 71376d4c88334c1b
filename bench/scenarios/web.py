"""`pixflow web` under load: event latency to an SSE client beside the ZeroMQ subscriber's, `generate` over HTTP
beside the same over ZeroMQ, and 500 SSE clients at once (the worker's CPU per event, the web server's memory per
client). Every party is a process of its own: the replay ComfyUI (ReplayProcess), the worker (WorkerProcess), the
web server (`python -m pixflow web`); the clients are this process (SSE over http.client and aiohttp).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench.harness import REPO, Figure, ReplayProcess, WorkerProcess, percentile
from bench.scenarios.common import GENERATE, p50_p99
from bench.scenarios.events import _control, _progress_sent
from pixflow.replay.server import ReplayServer
from pixflow.testing import free_tcp

BODY = {k: v for k, v in GENERATE.items() if k not in ("type", "v")}
FINAL = ("done", "failed", "cancelled")
READY = "pixflow web: serving "


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


class WebProcess:
    """`python -m pixflow web` on a free loopback port (no tokens: every caller is admin), ready once it serves."""

    def __init__(self, req_addr: str, pub_addr: str) -> None:
        self.port = int(free_tcp().rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "pixflow", "web", "--listen", f"127.0.0.1:{self.port}"]
        self.command += ["--req-addr", req_addr, "--pub-addr", pub_addr]
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> WebProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(self.command, env=env, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith(READY), f"pixflow web did not start: {line!r}"
        deadline = time.monotonic() + 20
        while requests.get(self.url + "/v1/health", timeout=5).status_code != 200:  # it has heard the worker
            assert time.monotonic() < deadline, "pixflow web never saw the worker"
            time.sleep(0.1)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class SseTimes:
    """A browser-style client in a thread: one `text/event-stream` over http.client, each progress event's
    arrival time (monotonic ns, the clock the replay's send log uses), until it has seen `jobs` final states."""

    def __init__(self, url: str, jobs: int) -> None:
        self.jobs, self.received = jobs, {}
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)
        self.connection.request("GET", "/v1/events?topics=job.progress.,job.state.")
        self.response = self.connection.getresponse()
        assert self.response.status == 200, self.response.status
        self.thread = threading.Thread(target=self._read, name="sse-times", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        finals = 0
        while finals < self.jobs:
            line = self.response.readline()
            now = time.monotonic_ns()
            if not line:
                return
            if not line.startswith(b"data:"):
                continue
            event = json.loads(line[5:])
            if event["topic"].startswith("job.progress."):
                self.received[(event["job_id"], event["value"])] = now
            elif event.get("to") in FINAL:
                finals += 1

    def join(self) -> dict[tuple[str, int], int]:
        self.thread.join(120)
        self.connection.close()
        return self.received


def _latency(replay: ReplayProcess, worker: WorkerProcess, web: WebProcess, jobs: int) -> list[Figure]:
    """One run, both readers at once: each progress frame's time to the ZeroMQ subscriber and to the SSE client."""
    _control(replay, "speed", {"speed": 1.0})
    _control(replay, "send_log", {"record": True})
    zmq_times: dict[tuple[str, int], int] = {}
    with worker.client() as client:
        client.subscribe(b"job.progress.", b"job.state.")
        client.wait_subscribed()
        sse = SseTimes(web.url, jobs)
        _control(replay, "playlist", {"recordings": ["new_prompt"] * jobs})
        ids = [client.call("generate", **BODY, id=f"web-lat-{i}")["job_id"] for i in range(jobs)]
        prompts = {job_id: client.status(job_id)["prompt_id"] for job_id in ids}
        done = 0
        while done < jobs:
            topic, event = client.next_event(60)
            now = time.monotonic_ns()
            if topic.startswith("job.progress."):
                zmq_times[(prompts[event["job_id"]], event["value"])] = now
            elif event.get("to") in FINAL:
                done += 1
        sse_times = {(prompts[job], value): t for (job, value), t in sse.join().items() if job in prompts}
    sent = _progress_sent(replay)
    _control(replay, "speed", {"speed": 0.0})
    over_zmq = [(t - sent[key]) / 1e6 for key, t in zmq_times.items() if key in sent]
    over_sse = [(t - sent[key]) / 1e6 for key, t in sse_times.items() if key in sent]
    assert len(over_sse) == len(over_zmq), (len(over_sse), len(over_zmq))
    return p50_p99(
        "event latency, ComfyUI frame → SSE client (web)",
        over_sse,
        "same frame → ZeroMQ subscriber",
        over_zmq,
        "<= 1.5x",
        "<= 1.5x",
    )


class SseCrowd:
    """`count` SSE clients on aiohttp in a thread of their own, each counting the events it reads."""

    def __init__(self, url: str, count: int) -> None:
        self.url, self.count = url, count
        self.events = [0] * count
        self.dropped = 0
        self.connected = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sse-crowd", daemon=True)
        self.thread.start()
        self.tasks: list[asyncio.Future[Any]] = []
        asyncio.run_coroutine_threadsafe(self._open(), self.loop).result(120)

    async def _open(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None)
        )
        self.tasks = [asyncio.ensure_future(self._client(i)) for i in range(self.count)]
        while self.connected < self.count:
            await asyncio.sleep(0.05)

    async def _client(self, i: int) -> None:
        async with self.session.get(self.url + "/v1/events?topics=job.") as response:
            assert response.status == 200, response.status
            self.connected += 1
            async for line in response.content:
                if line.startswith(b"event:"):
                    self.events[i] += 1
                    self.dropped += line.strip() == b"event: dropped"

    def settle(self, expected: int, timeout: float = 60.0) -> float:
        """Wait until every client has read `expected` events (or none has read more for 2 s); the seconds."""
        start = last_change = time.monotonic()
        seen = -1
        while min(self.events) < expected and time.monotonic() - last_change < 2 and time.monotonic() - start < timeout:
            if sum(self.events) != seen:
                seen, last_change = sum(self.events), time.monotonic()
            time.sleep(0.05)
        return time.monotonic() - start

    async def _close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.session.close()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _batch(worker: WorkerProcess, jobs: int, prefix: str) -> tuple[float, int, int]:
    """`jobs` jobs at once on the replay (speed 0): the worker's CPU seconds, every event it published, the job.*
    ones (the topics the crowd reads), as a subscriber to everything counts them."""
    with worker.client() as client:
        client.subscribe(b"")
        client.wait_subscribed()
        cpu = worker.cpu_seconds()
        for i in range(jobs):
            client.call("generate", **BODY, id=f"{prefix}-{i}")
        done = events = job_events = 0
        while done < jobs:
            topic, event = client.next_event(60)
            events += 1
            job_events += topic.startswith("job.")
            done += topic.startswith("job.state.") and event.get("to") in FINAL
        cpu = worker.cpu_seconds() - cpu
    return cpu, events, job_events


def _crowd(
    replay: ReplayProcess, worker: WorkerProcess, web: WebProcess, clients: int, jobs: int, rounds: int = 3
) -> list[Figure]:
    """Alternate batches without and with `clients` SSE clients connected (`rounds` of each); the memory once
    they are (the web server's RSS with them connected after a batch, less its RSS before they connected)."""
    _control(replay, "speed", {"speed": 0.0})
    _control(replay, "playlist", {"recordings": ["new_prompt"] * (jobs * 2 * rounds + jobs)})
    _batch(worker, jobs // 2, "web-warm")
    cpu = {False: 0.0, True: 0.0}
    counted = {False: 0, True: 0}
    per_client: list[float] = []
    job_events_seen: list[int] = []
    web_kib = client_kib = 0.0
    for round_ in range(rounds):
        seconds, events, _ = _batch(worker, jobs, f"web-alone-{round_}")
        cpu[False] += seconds
        counted[False] += events
        web_before, bench_before = _rss_kib(web.pid), _rss_kib(os.getpid())
        crowd = SseCrowd(web.url, clients)
        try:
            seconds, events, job_events = _batch(worker, jobs, f"web-crowd-{round_}")
            crowd.settle(job_events)
            assert not crowd.dropped, f"{crowd.dropped} streams were dropped"
            cpu[True] += seconds
            counted[True] += events
            web_kib += (_rss_kib(web.pid) - web_before) / clients / rounds
            client_kib += (_rss_kib(os.getpid()) - bench_before) / clients / rounds
            per_client += crowd.events
            job_events_seen.append(job_events)
        finally:
            crowd.close()
    alone_us = cpu[False] / counted[False] * 1e6
    crowd_us = cpu[True] / counted[True] * 1e6
    return [
        Figure(
            f"worker CPU per event, {clients} SSE clients on the web server",
            crowd_us,
            "µs",
            "the same, no SSE client",
            alone_us,
            "~1.0x",
        ),
        Figure(
            f"events each of {clients} SSE clients read, mean",
            sum(per_client) / len(per_client),
            "events",
            "job events the worker published (ZeroMQ subscriber)",
            sum(job_events_seen) / len(job_events_seen),
            "1.0x",
        ),
        Figure(
            "web server memory per SSE client",
            web_kib,
            "KiB",
            "the same connections in the reader (aiohttp client)",
            client_kib,
        ),
    ]


def _generate(worker: WorkerProcess, web: WebProcess, count: int, warmup: int = 20) -> list[Figure]:
    """`generate` over HTTP (POST /v1/jobs) and over ZeroMQ (a REQ client), alternating, the worker paused (the
    requests, not the jobs, are measured)."""
    over_http: list[float] = []
    over_zmq: list[float] = []
    session = requests.Session()
    with worker.client() as client:
        client.call("pause")
        for i in range(warmup + count):
            order = ("http", "zmq") if i % 2 == 0 else ("zmq", "http")
            for way in order:
                start = time.perf_counter_ns()
                if way == "http":
                    response = session.post(f"{web.url}/v1/jobs", json={**BODY, "id": f"web-http-{i}"}, timeout=10)
                    assert response.status_code == 200, response.text
                else:
                    client.call("generate", **BODY, id=f"web-zmq-{i}")
                elapsed = (time.perf_counter_ns() - start) / 1e6
                if i >= warmup:
                    (over_http if way == "http" else over_zmq).append(elapsed)
        client.call("resume")
    session.close()
    return [
        Figure(
            "generate over HTTP (POST /v1/jobs) p50",
            percentile(over_http, 0.5),
            "ms",
            "generate over ZeroMQ p50",
            percentile(over_zmq, 0.5),
        ),
        Figure(
            "generate over HTTP (POST /v1/jobs) p99",
            percentile(over_http, 0.99),
            "ms",
            "generate over ZeroMQ p99",
            percentile(over_zmq, 0.99),
        ),
    ]


def web_api(directory: Path, _: ReplayServer, jobs: int = 24, clients: int = 500, requests_: int = 300) -> list[Figure]:
    with (
        ReplayProcess("cached_all") as replay,
        WorkerProcess(directory, replay.url) as worker,
        WebProcess(worker.req, worker.pub) as web,
    ):
        figures = _latency(replay, worker, web, jobs)
        figures += _crowd(replay, worker, web, clients, jobs=60)
        figures += _generate(worker, web, requests_)
    return figures
