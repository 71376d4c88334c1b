"""Several replay servers at once: a pool of stand-in ComfyUI backends, each playing its own GPU (models.py).

    with ReplayPool(fixtures, [BackendProfile(("a", "b")), BackendProfile(("b",), speed_factor=3)]) as pool:
        pool.urls  # one per profile, in order

Tests and the pool benchmark (bench/scenarios/pool.py) use it; each server has its own thread and event loop.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from pixflow.replay.models import BackendProfile
from pixflow.replay.server import ReplayServer


class ReplayPool:
    def __init__(
        self,
        fixtures: Path,
        profiles: Sequence[BackendProfile],
        default: str = "fresh",
        speed: float = 0.0,
        host: str = "127.0.0.1",
    ) -> None:
        if not profiles:
            raise ValueError("a pool needs at least one profile")
        self.servers = [ReplayServer(fixtures, default, speed, host, 0, profile) for profile in profiles]

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    def start(self, timeout: float = 10.0) -> ReplayPool:
        """Start every server (each returns once it listens); if one fails, the ones started are stopped."""
        started: list[ReplayServer] = []
        try:
            for server in self.servers:
                started.append(server.start(timeout))
        except BaseException:
            for server in started:
                server.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        for server in self.servers:
            server.stop(timeout)

    def __enter__(self) -> ReplayPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __len__(self) -> int:
        return len(self.servers)

    def __iter__(self) -> Iterator[ReplayServer]:
        return iter(self.servers)

    def __getitem__(self, index: int) -> ReplayServer:
        return self.servers[index]
