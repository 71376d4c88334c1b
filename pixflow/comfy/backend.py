"""One ComfyUI server as seen by the worker: a WebSocket reader and two HTTP threads.

The threads never touch jobs. They take commands from queues and post what happened to the worker loop
as the messages of comfy/messages.py; the loop alone decides what that means.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import websocket

from pixflow.comfy import commands
from pixflow.comfy.client import FEATURE_FLAGS, ComfyClient
from pixflow.comfy.events import parse_binary, parse_text
from pixflow.comfy.messages import BackendDown, BackendEvent, BackendUp, CommandFailed, LoopMessage
from pixflow.outbox import Outbox

log = logging.getLogger(__name__)

RECV_TIMEOUT = 0.5  # how often the reader looks at the stop flag
CONNECT_TIMEOUT = 5.0
MAX_BACKOFF = 10.0


Post = Callable[[LoopMessage], None]


class Backend:
    def __init__(
        self,
        name: str,
        url: str,
        post: Post,
        http_timeout: float = 10.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 5.0,
        fetch_workers: int = 3,
        outbox: Outbox | None = None,
    ) -> None:
        self.name = name
        self._outbox = outbox or Outbox()  # commands wait for the loop turn's commit
        self._ping_interval, self._ping_timeout = ping_interval, ping_timeout
        self.url = url.rstrip("/")
        self._post = post
        # One HTTP session per thread: control is one ordered thread; downloads run on a small pool, so a
        # slow download never delays a submission and several finished prompts are saved at once.
        self._client = ComfyClient(self.url, timeout=http_timeout)
        self._fetch_clients = [ComfyClient(self.url, timeout=http_timeout) for _ in range(fetch_workers)]
        # SimpleQueue: a put from the loop is one C call (queue.Queue's Condition cost the loop ~6 % of its CPU).
        self._commands: queue.SimpleQueue[commands.Command | None] = queue.SimpleQueue()
        self._fetches: queue.SimpleQueue[commands.Command | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._ws: websocket.WebSocket | None = None
        self._threads = [
            threading.Thread(target=self._read_events, name=f"ws-{name}", daemon=True),
            threading.Thread(target=self._serve, args=(self._commands, self._client), name=f"http-{name}", daemon=True),
            *(
                threading.Thread(
                    target=self._serve, args=(self._fetches, client), name=f"fetch-{name}-{i}", daemon=True
                )
                for i, client in enumerate(self._fetch_clients)
            ),
        ]

    # Called from the worker loop.
    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._commands.put(None)
        for _ in self._fetch_clients:
            self._fetches.put(None)
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close(timeout=1)
        for thread in self._threads:
            thread.join(timeout)
        for client in (self._client, *self._fetch_clients):
            client.close()

    def submit(
        self,
        job_id: str,
        prompt_id: str,
        graph: dict[str, Any],
        client_id: str,
        images: tuple[tuple[str, Path], ...] = (),
    ) -> None:
        """POST the prompt; its input images (name in ComfyUI, file) are uploaded first, on the same thread."""
        self._control(commands.Submit(job_id, prompt_id, graph, client_id, images))

    def cancel(self, job_id: str, prompt_id: str) -> None:
        self._control(commands.Cancel(job_id, prompt_id))

    def refresh_info(self) -> None:
        self._control(commands.RefreshInfo())

    def reconcile(self, job_id: str, prompt_id: str) -> None:
        self._control(commands.Reconcile(job_id, prompt_id))

    def withdraw(self, job_id: str, prompt_id: str) -> None:
        self._control(commands.Withdraw(job_id, prompt_id))

    def discard(self, prompt_id: str) -> None:
        self._control(commands.Discard(prompt_id))

    def interrupt_all(self) -> None:
        self._control(commands.InterruptAll())

    def _control(self, command: commands.Command) -> None:
        """To the control thread, once the loop turn that asked for it is committed (pixflow/outbox.py)."""
        self._outbox.send(self._commands.put, command)

    def fetch_outputs(
        self,
        job_id: str,
        prompt_id: str,
        job_dir: Path,
        sidecar: dict[str, Any],
        node_outputs: dict[str, Any] | None = None,
    ) -> None:
        self._outbox.send(self._fetches.put, commands.FetchOutputs(job_id, prompt_id, job_dir, sidecar, node_outputs))

    # The WebSocket reader thread.
    def _read_events(self) -> None:
        backoff = 0.25
        while not self._stop.is_set():
            client_id = uuid.uuid4().hex  # never reuse one: see docs/comfyui.md
            try:
                # No UTF-8 check per frame in websocket-client (pure Python, half of this thread's CPU): text
                # frames are decoded with errors="replace" below, and JSON parsing rejects anything malformed.
                ws = websocket.create_connection(
                    self._client.socket_url(client_id), timeout=CONNECT_TIMEOUT, skip_utf8_validation=True
                )
            except (OSError, websocket.WebSocketException) as e:
                self._post(BackendDown(self.name, f"ComfyUI at {self.url} is unreachable: {e}"))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            self._ws = ws
            backoff = 0.25
            try:
                ws.send(json.dumps(FEATURE_FLAGS))
                ws.settimeout(RECV_TIMEOUT)
                self._post(BackendUp(self.name, client_id))
                self._pump(ws)
            except (OSError, websocket.WebSocketException) as e:
                if not self._stop.is_set():
                    self._post(BackendDown(self.name, f"lost the WebSocket to ComfyUI at {self.url}: {e}"))
            finally:
                self._ws = None
                with contextlib.suppress(Exception):
                    ws.close(timeout=1)

    def _pump(self, ws: websocket.WebSocket) -> None:
        """Read frames until the socket fails. A silent socket is pinged; one that does not answer is dead."""
        last_frame = time.monotonic()
        ping_sent: float | None = None
        while not self._stop.is_set():
            try:
                opcode, data = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                now = time.monotonic()
                if ping_sent is not None and now - ping_sent > self._ping_timeout:
                    raise websocket.WebSocketTimeoutException(
                        f"no answer to a ping for {self._ping_timeout:g}s: the socket is dead"
                    ) from None
                if ping_sent is None and now - last_frame > self._ping_interval:
                    ws.ping()
                    ping_sent = now
                continue
            last_frame, ping_sent = time.monotonic(), None
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                raise websocket.WebSocketConnectionClosedException("closed by ComfyUI")
            if opcode == websocket.ABNF.OPCODE_TEXT:
                event = parse_text(data.decode("utf-8", "replace"))
            elif opcode == websocket.ABNF.OPCODE_BINARY:
                event = parse_binary(data)
            else:
                continue
            if event is not None:
                self._post(BackendEvent(self.name, event))

    # The HTTP threads: one for control (ordered), one for downloads (slow, never blocks control).
    def _serve(self, queued: queue.SimpleQueue[commands.Command | None], client: ComfyClient) -> None:
        while True:
            command = queued.get()
            if command is None or self._stop.is_set():
                return
            try:
                result = commands.run(self.name, command, client, self._stop)
                if result is not None:
                    self._post(result)
            except Exception as e:  # a bug here must not kill the thread: report it against the job
                log.exception("backend %s: %r failed", self.name, command)
                job_id = getattr(command, "job_id", None)
                if job_id is not None:
                    self._post(CommandFailed(job_id, f"{type(e).__name__}: {e}"))
