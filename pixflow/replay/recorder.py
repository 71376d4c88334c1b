"""Record one ComfyUI run (HTTP + WebSocket) as a JSONL transcript, for fixtures and protocol checks.

The run, as pixflow's backend does it (docs/comfyui.md): open `/ws?clientId=<fresh uuid>` first
(optionally send the `feature_flags` opt-in), `POST /prompt` with a client-chosen `prompt_id`, read
frames until `executing` with `node: null` for that prompt (optionally `POST /interrupt` after a given
progress value), then `GET /history/{prompt_id}` and download the images it lists with `GET /view`.
HTTP goes through ComfyClient, events are read with pixflow.comfy.events; every network call and wait
has a timeout. The transcript format is in transcript.py.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import websocket

from pixflow.comfy import events as ce
from pixflow.comfy.client import FEATURE_FLAGS, ComfyClient
from pixflow.comfy.history import images_of
from pixflow.errors import BackendError, RecordingError, RecordingTimeout
from pixflow.replay.transcript import Rewrites, Transcript

log = logging.getLogger(__name__)

DEFAULT_HTTP_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
_OUTCOMES: dict[type[ce.ComfyEvent], str] = {
    ce.ExecutionSuccess: "success",
    ce.ExecutionError: "error",
    ce.ExecutionInterrupted: "interrupted",
}

__all__ = ["RecordingError", "RecordingSummary", "RecordingTimeout", "record", "record_server_info"]


@dataclass
class RecordingSummary:
    """What one record() call saw.

    outcome: "success", "error", "interrupted" (from the terminal WebSocket event), or
    "rejected" when POST /prompt did not answer 200 (nothing was queued).
    """

    prompt_id: str
    client_id: str
    outcome: str
    http_status: int
    out_jsonl: Path
    lines: int = 0
    ws_json: int = 0
    ws_binary: int = 0
    event_types: dict[str, int] = field(default_factory=dict)
    images: list[Path] = field(default_factory=list)
    interrupted_at_step: int | None = None
    seconds: float = 0.0
    post_body: Any = None
    history: dict[str, Any] | None = None


class _Run:
    """One recording in progress: the HTTP client, the socket, the transcript and the deadline."""

    def __init__(
        self,
        client: ComfyClient,
        ws: websocket.WebSocket,
        transcript: Transcript,
        summary: RecordingSummary,
        deadline: float,
    ) -> None:
        self.client, self.ws, self.transcript, self.summary, self.deadline = client, ws, transcript, summary, deadline

    def submit(self, graph: dict[str, Any], feature_flags: bool) -> bool:
        """Opt in (optionally) and POST /prompt; False when ComfyUI rejected it (nothing queued)."""
        summary = self.summary
        if feature_flags:
            self._send(json.dumps(FEATURE_FLAGS))
            self.transcript.write("ws_sent", FEATURE_FLAGS)
        body = {"prompt": graph, "client_id": summary.client_id, "prompt_id": summary.prompt_id}
        reply = self.client.post_prompt(body)
        self.transcript.write("http_post_prompt", {"request": body, "status": reply.status, "body": reply.body})
        summary.http_status, summary.post_body = reply.status, reply.body
        log.debug("POST /prompt %s -> %s", summary.prompt_id, reply.status)
        return reply.status == 200

    def follow(self, interrupt_after_step: int | None) -> None:
        """Record frames until `executing` with node null for the prompt; interrupt it once if asked."""
        summary = self.summary
        while True:
            opcode, payload = self._receive()
            if opcode == websocket.ABNF.OPCODE_BINARY:
                self.transcript.write_binary(payload if isinstance(payload, bytes) else payload.encode())
                summary.ws_binary += 1
                continue
            text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
            try:
                message = json.loads(text)
            except ValueError as e:
                raise RecordingError(f"a WebSocket text frame is not JSON: {text[:200]!r}") from e
            self.transcript.write("ws_json", message)
            summary.ws_json += 1
            if isinstance(message, dict):
                kind = str(message.get("type"))
                summary.event_types[kind] = summary.event_types.get(kind, 0) + 1
            event = ce.parse_message(message)
            if event is None or event.prompt_id != summary.prompt_id:
                continue
            if type(event) in _OUTCOMES:
                summary.outcome = _OUTCOMES[type(event)]
            wanted = interrupt_after_step is not None and summary.interrupted_at_step is None
            if wanted and isinstance(event, ce.Progress) and event.value >= (interrupt_after_step or 0):
                summary.interrupted_at_step = event.value
                status = self.client.interrupt(summary.prompt_id)
                self.transcript.write("http_post_interrupt", {"status": status})
            if isinstance(event, ce.Executing) and event.node is None:
                return

    def history(self) -> dict[str, Any]:
        """GET /history/{prompt_id}, recorded as ComfyUI answered it ({prompt_id: entry})."""
        body = self.client.history_reply(self.summary.prompt_id)
        self.transcript.write("http_get_history", {"prompt_id": self.summary.prompt_id, "body": body})
        return body

    def download(self, entry: dict[str, Any], images_dir: Path) -> list[Path]:
        """Every image of the history entry, saved as images_dir/subfolder/filename (as /view serves them)."""
        saved = []
        for image in images_of(entry):
            if time.monotonic() > self.deadline:
                raise RecordingTimeout("image downloads did not finish in time")
            target = images_dir / _safe_relative(str(image.get("subfolder", "")), str(image["filename"]))
            data = self.client.view(image)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            saved.append(target)
        return saved

    def _send(self, text: str) -> None:
        try:
            self.ws.send(text)
        except (OSError, websocket.WebSocketException) as e:
            raise RecordingError(f"the WebSocket failed: {e}") from e

    def _receive(self) -> tuple[int, bytes | str]:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise RecordingTimeout("the prompt did not finish in time")
        self.ws.settimeout(remaining)
        try:
            opcode, payload = self.ws.recv_data()
        except websocket.WebSocketTimeoutException as e:
            raise RecordingTimeout("the prompt did not finish in time") from e
        except (OSError, websocket.WebSocketException) as e:
            raise RecordingError(f"the WebSocket failed: {e}") from e
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise RecordingError("the server closed the WebSocket before the prompt finished")
        return opcode, payload


def _safe_relative(subfolder: str, filename: str) -> Path:
    relative = PurePosixPath(subfolder or ".") / filename
    if relative.is_absolute() or ".." in relative.parts:
        raise RecordingError(f"refusing image path {relative}")
    return Path(*relative.parts)


def _connect(client: ComfyClient, client_id: str, timeout: float) -> websocket.WebSocket:
    try:
        return websocket.create_connection(client.socket_url(client_id), timeout=timeout)
    except (OSError, websocket.WebSocketException) as e:
        raise RecordingError(f"cannot open the WebSocket of ComfyUI at {client.base_url}: {e}") from e


def record(
    url: str,
    graph: dict[str, Any],
    out_jsonl: Path,
    images_dir: Path,
    *,
    feature_flags: bool = False,
    interrupt_after_step: int | None = None,
    timeout: float = 120.0,
    http_timeout: float = DEFAULT_HTTP_TIMEOUT,
    prompt_id: str | None = None,
    client_id: str | None = None,
    path_rewrites: Mapping[str, str] | None = None,
) -> RecordingSummary:
    """Run `graph` (API format) once on the ComfyUI at `url` and record the whole exchange.

    feature_flags: send the feature_flags opt-in first (previews then come as binary type 4).
    interrupt_after_step: POST /interrupt {"prompt_id"} once a progress event reaches this value.
    timeout: seconds for the whole run, from connecting to the last image download.
    http_timeout: seconds for each HTTP request.
    prompt_id, client_id: defaults are fresh uuid4 values (client_id as 32 hex digits).
    path_rewrites: literal replacements applied to every written line (e.g. the local ComfyUI
        folder -> "/srv/ComfyUI"), so fixtures do not carry this machine's paths.

    Raises RecordingTimeout or RecordingError when the run cannot be followed to its end;
    the lines written until then stay in out_jsonl.
    """
    started = time.monotonic()
    prompt_id = prompt_id or str(uuid.uuid4())
    client_id = client_id or uuid.uuid4().hex  # fresh for every socket: docs/comfyui.md, "Client ids"
    out_jsonl, images_dir = Path(out_jsonl), Path(images_dir)
    out_jsonl.parent.mkdir(parents=True, exist_ok=True)
    summary = RecordingSummary(prompt_id=prompt_id, client_id=client_id, outcome="", http_status=0, out_jsonl=out_jsonl)

    with out_jsonl.open("w", encoding="utf-8") as stream, ComfyClient(url, timeout=http_timeout) as client:
        ws = _connect(client, client_id, min(CONNECT_TIMEOUT, timeout))
        run = _Run(client, ws, Transcript(stream, Rewrites(path_rewrites)), summary, started + timeout)
        try:
            if not run.submit(graph, feature_flags):
                summary.outcome = "rejected"
            else:
                run.follow(interrupt_after_step)
                summary.outcome = summary.outcome or "unknown"
                summary.history = run.history()
                summary.images = run.download(summary.history.get(prompt_id) or {}, images_dir)
        except BackendError as e:
            raise RecordingError(str(e)) from e
        finally:
            summary.lines = run.transcript.lines
            ws.close(timeout=2)

    summary.seconds = round(time.monotonic() - started, 3)
    log.info("recorded %s: %s, %d lines, %d images", out_jsonl, summary.outcome, summary.lines, len(summary.images))
    return summary


def record_server_info(
    url: str,
    out_dir: Path,
    *,
    http_timeout: float = DEFAULT_HTTP_TIMEOUT,
    path_rewrites: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Save GET /object_info and GET /system_stats as out_dir/object_info.json and system_stats.json.

    path_rewrites: literal replacements applied to the written text (as in record()).
    Returns {"object_info": path, "system_stats": path}.
    """
    rewrites = Rewrites(path_rewrites)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    with ComfyClient(url, timeout=http_timeout) as client:
        for name, fetch in (("object_info", client.object_info), ("system_stats", client.system_stats)):
            try:
                body = fetch()
            except BackendError as e:
                raise RecordingError(str(e)) from e
            path = out_dir / f"{name}.json"
            path.write_text(rewrites(json.dumps(body, indent=1)) + "\n", encoding="utf-8")
            written[name] = path
    return written
