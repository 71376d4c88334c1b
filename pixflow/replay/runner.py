"""An aiohttp application served on a thread of its own, with its own event loop (aiohttp's public API only).

start() returns once the socket listens, so a caller that asked for port 0 learns the port the system chose.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web

T = TypeVar("T")


class AppThread:
    def __init__(self, make_app: Callable[[], web.Application], host: str, port: int, name: str) -> None:
        self._make_app = make_app  # called on the thread's loop: asyncio objects belong to the loop that runs them
        self.host, self.port = host, port
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"{self._thread.name} did not start within {timeout}s")
        if self._error is not None:
            raise RuntimeError(f"{self._thread.name} failed to start: {self._error}") from self._error

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as e:  # reported to start(), which waits on _ready
            self._error = e
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        runner = web.AppRunner(self._make_app(), handle_signals=False, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
            address = runner.addresses[0]  # (host, port[, ...]): the port chosen when 0 was asked
            self.port = int(address[1])
            self._ready.set()
            await self._stopping.wait()
        finally:
            await runner.cleanup()  # the app's on_shutdown/on_cleanup hooks run here

    def call(self, function: Callable[[], T], timeout: float) -> T:
        """Run function() on the loop's thread and return its result (state is touched only from there)."""
        if self._loop is None:
            raise RuntimeError(f"{self._thread.name} is not running")

        async def invoke() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(invoke(), self._loop).result(timeout)

    def stop(self, timeout: float) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is None or stopping is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(stopping.set)
        except RuntimeError:  # the loop closed in the meantime: already stopped
            return
        self._thread.join(timeout)
