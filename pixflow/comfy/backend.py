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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, assert_never

import websocket

from pixflow.comfy.client import FEATURE_FLAGS, ComfyClient, PromptRejected
from pixflow.comfy.events import parse_binary, parse_text
from pixflow.comfy.messages import (
    BackendDown,
    BackendEvent,
    BackendInfo,
    BackendUp,
    CancelChecked,
    CommandFailed,
    HealthMessage,
    JobResult,
    LoopMessage,
    OutputsFailed,
    OutputsSaved,
    PromptFinished,
    PromptUnknown,
    PromptWaiting,
    ReconcileFailed,
    SubmitFailed,
    SubmitRejected,
    Submitted,
)
from pixflow.comfy.outputs import save_outputs, wait_for_history
from pixflow.errors import BackendError

log = logging.getLogger(__name__)

RECV_TIMEOUT = 0.5  # how often the reader looks at the stop flag
CONNECT_TIMEOUT = 5.0
MAX_BACKOFF = 10.0


# Commands for the backend's threads.
@dataclass(frozen=True)
class _Submit:
    job_id: str
    prompt_id: str
    graph: dict[str, Any]
    client_id: str


@dataclass(frozen=True)
class _Cancel:
    job_id: str
    prompt_id: str


@dataclass(frozen=True)
class _RefreshInfo:
    pass


@dataclass(frozen=True)
class _Reconcile:
    job_id: str
    prompt_id: str


@dataclass(frozen=True)
class _InterruptAll:
    pass


@dataclass(frozen=True)
class _FetchOutputs:
    job_id: str
    prompt_id: str
    job_dir: Path
    sidecar: dict[str, Any] = field(repr=False)
    # Output node -> its `executed` output, when the job's events were followed live: saves a GET /history.
    node_outputs: dict[str, Any] | None = field(default=None, repr=False)


_Command = _Submit | _Cancel | _RefreshInfo | _Reconcile | _InterruptAll | _FetchOutputs
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
    ) -> None:
        self.name = name
        self._ping_interval, self._ping_timeout = ping_interval, ping_timeout
        self.url = url.rstrip("/")
        self._post = post
        # One HTTP session per thread: control is one ordered thread; downloads run on a small pool, so a
        # slow download never delays a submission and several finished prompts are saved at once.
        self._client = ComfyClient(self.url, timeout=http_timeout)
        self._fetch_clients = [ComfyClient(self.url, timeout=http_timeout) for _ in range(fetch_workers)]
        self._commands: queue.Queue[_Command | None] = queue.Queue()
        self._fetches: queue.Queue[_Command | None] = queue.Queue()
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

    def submit(self, job_id: str, prompt_id: str, graph: dict[str, Any], client_id: str) -> None:
        self._commands.put(_Submit(job_id, prompt_id, graph, client_id))

    def cancel(self, job_id: str, prompt_id: str) -> None:
        self._commands.put(_Cancel(job_id, prompt_id))

    def refresh_info(self) -> None:
        self._commands.put(_RefreshInfo())

    def reconcile(self, job_id: str, prompt_id: str) -> None:
        self._commands.put(_Reconcile(job_id, prompt_id))

    def interrupt_all(self) -> None:
        self._commands.put(_InterruptAll())

    def fetch_outputs(
        self,
        job_id: str,
        prompt_id: str,
        job_dir: Path,
        sidecar: dict[str, Any],
        node_outputs: dict[str, Any] | None = None,
    ) -> None:
        self._fetches.put(_FetchOutputs(job_id, prompt_id, job_dir, sidecar, node_outputs))

    # The WebSocket reader thread.
    def _read_events(self) -> None:
        backoff = 0.25
        while not self._stop.is_set():
            client_id = uuid.uuid4().hex  # never reuse one: see docs/comfyui.md
            try:
                ws = websocket.create_connection(self._client.socket_url(client_id), timeout=CONNECT_TIMEOUT)
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
    def _serve(self, commands: queue.Queue[_Command | None], client: ComfyClient) -> None:
        while True:
            command = commands.get()
            if command is None or self._stop.is_set():
                return
            try:
                result = self._execute(command, client)
                if result is not None:
                    self._post(result)
            except Exception as e:  # a bug here must not kill the thread: report it against the job
                log.exception("backend %s: %r failed", self.name, command)
                job_id = getattr(command, "job_id", None)
                if job_id is not None:
                    self._post(CommandFailed(job_id, f"{type(e).__name__}: {e}"))

    def _execute(self, command: _Command, client: ComfyClient) -> JobResult | HealthMessage | None:
        match command:
            case _Submit():
                try:
                    result = client.submit(command.graph, command.prompt_id, command.client_id)
                except BackendError as e:
                    return SubmitFailed(command.job_id, str(e))
                if isinstance(result, PromptRejected):
                    return SubmitRejected(command.job_id, result)
                return Submitted(command.job_id, result.get("number"))
            case _Cancel():
                return self._cancel(command, client)
            case _RefreshInfo():
                try:
                    models = client.checkpoints()
                    stats = client.system_stats()
                except (BackendError, KeyError, IndexError, TypeError) as e:
                    log.warning("backend %s: cannot read models: %s", self.name, e)
                    return BackendInfo(self.name, [], None)
                return BackendInfo(self.name, models, (stats.get("system") or {}).get("comfyui_version"))
            case _Reconcile():
                return self._reconcile(command, client)
            case _InterruptAll():
                try:
                    client.interrupt(None)
                except BackendError as e:
                    log.warning("backend %s: interrupt failed: %s", self.name, e)
                return None
            case _FetchOutputs():
                try:
                    if command.node_outputs:
                        entry = {"outputs": command.node_outputs}
                    else:
                        entry = wait_for_history(client, command.prompt_id, self._stop)
                    outputs = save_outputs(client, entry, command.job_dir, command.job_id, command.sidecar)
                except (BackendError, OSError) as e:
                    return OutputsFailed(command.job_id, str(e))
                return OutputsSaved(command.job_id, outputs)
            case _:
                assert_never(command)

    def _reconcile(self, command: _Reconcile, client: ComfyClient) -> JobResult:
        """Where is this prompt? History first: a finished prompt leaves the queue after its entry is written."""
        try:
            entry = client.history(command.prompt_id)
            if entry:
                return PromptFinished(command.job_id, entry)
            snapshot = client.queue()
            entry = client.history(command.prompt_id)  # it may have finished between the two reads
        except BackendError as e:
            return ReconcileFailed(command.job_id, str(e))
        if entry:
            return PromptFinished(command.job_id, entry)
        if _in_queue(snapshot.get("queue_running"), command.prompt_id):
            return PromptWaiting(command.job_id, running=True)
        if _in_queue(snapshot.get("queue_pending"), command.prompt_id):
            return PromptWaiting(command.job_id, running=False)
        return PromptUnknown(command.job_id)

    def _cancel(self, command: _Cancel, client: ComfyClient) -> CancelChecked:
        """Remove the prompt if it waits, interrupt it if it runs; then look where it is."""
        try:
            client.delete_from_queue([command.prompt_id])
            client.interrupt(command.prompt_id)
            snapshot = client.queue()
        except BackendError as e:
            log.warning("backend %s: cancel of %s: %s", self.name, command.job_id, e)
            return CancelChecked(command.job_id, True)
        in_queue = _in_queue(snapshot.get("queue_running"), command.prompt_id) or _in_queue(
            snapshot.get("queue_pending"), command.prompt_id
        )
        return CancelChecked(command.job_id, in_queue)


def _in_queue(items: list[Any] | None, prompt_id: str) -> bool:
    return any(isinstance(item, list) and len(item) > 1 and item[1] == prompt_id for item in items or [])
