"""The benchmark scenarios. Each returns Figures: a measurement and its baseline from the same run.

One module per scenario family; bench/run.py picks them by the names below.
"""

from __future__ import annotations

from bench.scenarios.control import control_plane
from bench.scenarios.eta import eta_error
from bench.scenarios.events import event_latency, idle_gap
from bench.scenarios.history import long_history
from bench.scenarios.pool import pool_placement
from bench.scenarios.soak import soak
from bench.scenarios.sprite_load import sprite_bench, sprite_loop_load
from bench.scenarios.sprites import sprite_quality_and_cost
from bench.scenarios.startup import status_startup
from bench.scenarios.threads import worker_threads
from bench.scenarios.throughput import throughput_and_memory
from bench.scenarios.web import web_api

__all__ = [
    "control_plane",
    "eta_error",
    "event_latency",
    "idle_gap",
    "long_history",
    "pool_placement",
    "soak",
    "sprite_bench",
    "sprite_loop_load",
    "sprite_quality_and_cost",
    "status_startup",
    "throughput_and_memory",
    "web_api",
    "worker_threads",
]
