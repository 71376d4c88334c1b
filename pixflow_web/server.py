"""The web server's life: the link to the worker, the hub, the aiohttp app on its address; started in the
running event loop (`WebServer`), in a thread of its own (`WebThread`, for tests and programs that embed it), or
until a signal (`serve_forever`, what `pixflow web` runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from pixflow.client.keys import ClientKeys
from pixflow_web.app import WebSettings, make_app
from pixflow_web.auth import Tokens, check_listen
from pixflow_web.hub import Hub
from pixflow_web.link import WorkerLink

SHUTDOWN_TIMEOUT = 2.0  # seconds the open requests get when the server stops (the streams end at once)


@dataclass(frozen=True)
class WebConfig:
    req_addr: str
    pub_addr: str
    host: str = "127.0.0.1"
    port: int = 8080  # 0: any free port (WebServer.port says which)
    timeout: float = 10.0  # seconds a request to the worker may take (then 504)
    keys: ClientKeys | None = None
    tokens: Tokens | None = None
    keepalive: float = 15.0
    hub: dict[str, Any] = field(default_factory=dict)  # Hub's sizes: job_buffer, jobs_kept, buffer, queue_bound


class WebServer:
    def __init__(self, config: WebConfig) -> None:
        check_listen(config.host, config.tokens)
        self.config = config
        self.hub = Hub(**config.hub)
        self.link = WorkerLink(config.req_addr, config.pub_addr, config.timeout, config.keys)
        self.app = make_app(self.link, self.hub, WebSettings(config.tokens, config.keepalive))
        self.app.on_shutdown.append(self._end_streams)
        self._runner: web.AppRunner | None = None
        self.port = config.port

    async def _end_streams(self, app: web.Application) -> None:
        self.hub.close()

    async def start(self) -> None:
        await self.link.start(self.hub.publish)
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        host = self.config.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    async def stop(self) -> None:
        self.hub.close()  # the streams end now, not after the shutdown timeout
        if self._runner is not None:
            await self._runner.cleanup()
        await self.link.close()


async def serve_forever(config: WebConfig, announce: bool = True) -> None:
    server = WebServer(config)
    await server.start()
    if announce:
        print(f"pixflow web: serving {server.url} (docs at {server.url}/docs) for the worker at {config.req_addr}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


class WebThread:
    """A WebServer in a thread with its own event loop; `call(coroutine)` runs one there."""

    def __init__(self, config: WebConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = WebServer(config)  # refusals (check_listen) raise here, in the caller's thread
        self._thread = threading.Thread(target=self.loop.run_forever, name="pixflow-web", daemon=True)
        self._thread.start()
        self.call(self.server.start())

    @property
    def url(self) -> str:
        return self.server.url

    def call(self, coroutine: Any, timeout: float = 10.0) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self.call(self.server.stop(), timeout=15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
