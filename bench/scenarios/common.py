"""What the scenarios share: the generate request they send, REQ round trips, p50/p99 figures, the replay log."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import zmq

from bench.harness import Figure, percentile
from pixflow.client import Client
from pixflow.protocol import pack, unpack
from pixflow.replay.server import ReplayServer

OnDone = Callable[[int], None] | None
GENERATE = {"type": "generate", "v": 1, "prompt": "pixel art knight", "size": [64, 64], "steps": 8}


def req_socket(addr: str) -> zmq.Socket:
    socket = zmq.Context.instance().socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVTIMEO, 5000)
    socket.connect(addr)
    return socket


def round_trips(addr: str, messages: list[bytes], warmup: int = 200) -> list[float]:
    """Milliseconds per request/reply, one at a time over a REQ socket."""
    socket = req_socket(addr)
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


def p50_p99(
    name: str, samples: list[float], base_name: str, base: list[float], target: str, p50_target: str = ""
) -> list[Figure]:
    return [
        Figure(f"{name} p50", percentile(samples, 0.50), "ms", f"{base_name} p50", percentile(base, 0.50), p50_target),
        Figure(f"{name} p99", percentile(samples, 0.99), "ms", f"{base_name} p99", percentile(base, 0.99), target),
    ]


def send_log(replay: ReplayServer) -> list[tuple[int, str, str, Any]]:
    return replay.call(lambda state: list(state.send_log))


def stream_jobs(req_addr: str, client: Client, jobs: int, window: int, prefix: str, on_done: OnDone = None) -> None:
    """A steady stream: `generate` over a DEALER with `window` jobs outstanding at a time (what a busy worker sees,
    not one burst), each counted when its final `job.state` event arrives; `on_done(n)` after the nth."""
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(req_addr)
    body = {k: v for k, v in GENERATE.items() if k not in ("type", "v")}
    sent = done = 0
    try:
        while done < jobs:
            while sent < jobs and sent - done < window:
                dealer.send_multipart([b"", pack({"type": "generate", "v": 1, "id": f"{prefix}-{sent}", **body})])
                sent += 1
            while dealer.poll(0):
                assert unpack(dealer.recv_multipart()[-1])["type"] == "accepted"
            client.next_event(60, want=lambda topic, e: e.get("to") in ("done", "failed"))
            done += 1
            if on_done is not None:
                on_done(done)
    finally:
        dealer.close(0)
