"""What the scenarios share: the generate request they send, REQ round trips, p50/p99 figures, the replay log."""

from __future__ import annotations

import time
from typing import Any

import zmq

from bench.harness import Figure, percentile
from pixflow.replay.server import ReplayServer

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


def p50_p99(name: str, samples: list[float], base_name: str, base: list[float], target: str) -> list[Figure]:
    return [
        Figure(f"{name} p50", percentile(samples, 0.50), "ms", f"{base_name} p50", percentile(base, 0.50)),
        Figure(f"{name} p99", percentile(samples, 0.99), "ms", f"{base_name} p99", percentile(base, 0.99), target),
    ]


def send_log(replay: ReplayServer) -> list[tuple[int, str, str, Any]]:
    return replay.call(lambda state: list(state.send_log))
