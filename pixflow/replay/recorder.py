"""Record one ComfyUI run (HTTP + WebSocket) as JSONL, for fixtures and protocol checks.

Each line is ``{"t": seconds since the WebSocket connected, "kind": ..., "data": ...}`` with kind
one of ``http_post_prompt``, ``ws_json``, ``ws_binary``, ``ws_sent``, ``http_get_history`` and
``http_post_interrupt`` (the format of the shared ComfyUI recordings). The images the finished
prompt lists in its history entry are fetched with ``GET /view`` into a folder.

The run: open ``/ws?clientId=<fresh uuid>`` first (optionally send the ``feature_flags`` opt-in),
``POST /prompt`` with a client-chosen ``prompt_id``, read frames until ``executing`` with
``node: null`` for that prompt (optionally ``POST /interrupt`` after a given progress value), then
``GET /history/{prompt_id}`` and download the images. Every network call and wait has a timeout.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import requests
import websocket

log = logging.getLogger(__name__)

FEATURE_FLAGS_MESSAGE: dict[str, Any] = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
TERMINAL_EVENTS = {
    "execution_success": "success",
    "execution_error": "error",
    "execution_interrupted": "interrupted",
}
DEFAULT_HTTP_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0


class RecordingError(RuntimeError):
    """The run could not be recorded to its end (the lines written so far stay in the file)."""


class RecordingTimeout(RecordingError):
    """The prompt did not finish within the timeout."""


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


class _Transcript:
    """Writes JSONL lines stamped with seconds since the WebSocket connected."""

    def __init__(self, stream: IO[str], path_rewrites: Mapping[str, str]) -> None:
        self._stream = stream
        self._t0 = time.monotonic()
        self._rewrites = _sorted_rewrites(path_rewrites)
        self.lines = 0

    def write(self, kind: str, data: Any) -> None:
        line = json.dumps({"t": round(time.monotonic() - self._t0, 4), "kind": kind, "data": data})
        self._stream.write(rewrite(line, self._rewrites) + "\n")
        self._stream.flush()
        self.lines += 1


def rewrite(text: str, rewrites: list[tuple[str, str]]) -> str:
    for old, new in rewrites:
        text = text.replace(old, new)
    return text


def _sorted_rewrites(path_rewrites: Mapping[str, str] | None) -> list[tuple[str, str]]:
    # Longest first, so a path is rewritten before any of its prefixes.
    return sorted((path_rewrites or {}).items(), key=lambda item: len(item[0]), reverse=True)


def ws_url_for(url: str, client_id: str) -> str:
    """http://host:port[/prefix] -> ws://host:port[/prefix]/ws?clientId=..."""
    parts = urlsplit(url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rstrip("/") + "/ws"
    return urlunsplit((scheme, parts.netloc, path, f"clientId={client_id}", ""))


def _reply_body(reply: requests.Response) -> Any:
    try:
        return reply.json()
    except ValueError:
        return reply.text


def _connect(url: str, client_id: str, timeout: float) -> websocket.WebSocket:
    try:
        return websocket.create_connection(ws_url_for(url, client_id), timeout=timeout)
    except (OSError, websocket.WebSocketException) as exc:
        raise RecordingError(f"cannot open the WebSocket of {url}: {exc}") from exc


def _post_prompt(
    session: requests.Session, url: str, body: dict[str, Any], transcript: _Transcript, timeout: float
) -> tuple[int, Any]:
    reply = session.post(f"{url}/prompt", json=body, timeout=timeout)
    reply_body = _reply_body(reply)
    transcript.write("http_post_prompt", {"request": body, "status": reply.status_code, "body": reply_body})
    return reply.status_code, reply_body


def _post_interrupt(
    session: requests.Session, url: str, prompt_id: str, transcript: _Transcript, timeout: float
) -> int:
    reply = session.post(f"{url}/interrupt", json={"prompt_id": prompt_id}, timeout=timeout)
    transcript.write("http_post_interrupt", {"status": reply.status_code})
    return reply.status_code


def _get_history(
    session: requests.Session, url: str, prompt_id: str, transcript: _Transcript, timeout: float
) -> dict[str, Any]:
    reply = session.get(f"{url}/history/{prompt_id}", timeout=timeout)
    reply.raise_for_status()
    body = reply.json()
    transcript.write("http_get_history", {"prompt_id": prompt_id, "body": body})
    return body


def _receive(ws: websocket.WebSocket, deadline: float) -> tuple[int, bytes | str]:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise RecordingTimeout("the prompt did not finish in time")
    ws.settimeout(remaining)
    try:
        opcode, payload = ws.recv_data()
    except websocket.WebSocketTimeoutException as exc:
        raise RecordingTimeout("the prompt did not finish in time") from exc
    except (OSError, websocket.WebSocketException) as exc:
        raise RecordingError(f"the WebSocket failed: {exc}") from exc
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        raise RecordingError("the server closed the WebSocket before the prompt finished")
    return opcode, payload


def _is_prompt_end(message: dict[str, Any], prompt_id: str) -> bool:
    data = message.get("data") or {}
    return message.get("type") == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id


@dataclass
class _RunState:
    prompt_id: str
    interrupt_after_step: int | None
    outcome: str | None = None
    interrupted_at_step: int | None = None
    ws_json: int = 0
    ws_binary: int = 0
    event_types: dict[str, int] = field(default_factory=dict)

    def wants_interrupt(self, message: dict[str, Any]) -> bool:
        if self.interrupt_after_step is None or self.interrupted_at_step is not None:
            return False
        data = message.get("data") or {}
        return (
            message.get("type") == "progress"
            and data.get("prompt_id") == self.prompt_id
            and int(data.get("value", 0)) >= self.interrupt_after_step
        )

    def note(self, message: dict[str, Any]) -> None:
        kind = str(message.get("type"))
        self.event_types[kind] = self.event_types.get(kind, 0) + 1
        data = message.get("data") or {}
        if kind in TERMINAL_EVENTS and data.get("prompt_id") == self.prompt_id:
            self.outcome = TERMINAL_EVENTS[kind]


def _read_until_done(
    ws: websocket.WebSocket,
    transcript: _Transcript,
    state: _RunState,
    interrupt: Callable[[], object],
    deadline: float,
) -> None:
    """Record frames until `executing` with node null for the prompt; call interrupt() once if asked."""
    while True:
        opcode, payload = _receive(ws, deadline)
        if opcode == websocket.ABNF.OPCODE_BINARY:
            raw = payload if isinstance(payload, bytes) else payload.encode()
            transcript.write("ws_binary", {"len": len(raw), "b64": base64.b64encode(raw).decode("ascii")})
            state.ws_binary += 1
            continue
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        try:
            message = json.loads(text)
        except ValueError as exc:
            raise RecordingError(f"a WebSocket text frame is not JSON: {text[:200]!r}") from exc
        transcript.write("ws_json", message)
        state.ws_json += 1
        if not isinstance(message, dict):
            continue
        state.note(message)
        if state.wants_interrupt(message):
            state.interrupted_at_step = int(message["data"]["value"])
            interrupt()
        if _is_prompt_end(message, state.prompt_id):
            return


def history_images(history: dict[str, Any], prompt_id: str) -> list[dict[str, str]]:
    """The {filename, subfolder, type} entries of every output node of the prompt's history entry."""
    entry = history.get(prompt_id) or {}
    images: list[dict[str, str]] = []
    for node_output in (entry.get("outputs") or {}).values():
        for image in node_output.get("images") or []:
            if isinstance(image, dict) and image.get("filename"):
                images.append(image)
    return images


def _safe_relative(subfolder: str, filename: str) -> Path:
    relative = PurePosixPath(subfolder or ".") / filename
    if relative.is_absolute() or ".." in relative.parts:
        raise RecordingError(f"refusing image path {relative}")
    return Path(*relative.parts)


def download_image(
    session: requests.Session, url: str, image: Mapping[str, str], images_dir: Path, timeout: float
) -> Path:
    """GET /view for one history image entry; save it as images_dir/subfolder/filename."""
    target = images_dir / _safe_relative(image.get("subfolder", ""), image["filename"])
    params = {
        "filename": image["filename"],
        "subfolder": image.get("subfolder", ""),
        "type": image.get("type", "output"),
    }
    reply = session.get(f"{url}/view", params=params, timeout=timeout)
    reply.raise_for_status()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(reply.content)
    return target


def _run(
    session: requests.Session,
    ws: websocket.WebSocket,
    url: str,
    graph: dict[str, Any],
    transcript: _Transcript,
    state: _RunState,
    summary: RecordingSummary,
    feature_flags: bool,
    deadline: float,
    http_timeout: float,
) -> None:
    """Opt in (optionally), submit, and follow the prompt to its end; fill summary.outcome."""
    if feature_flags:
        ws.send(json.dumps(FEATURE_FLAGS_MESSAGE))
        transcript.write("ws_sent", FEATURE_FLAGS_MESSAGE)
    body = {"prompt": graph, "client_id": summary.client_id, "prompt_id": summary.prompt_id}
    summary.http_status, summary.post_body = _post_prompt(session, url, body, transcript, http_timeout)
    log.debug("POST /prompt %s -> %s", summary.prompt_id, summary.http_status)
    if summary.http_status != 200:
        summary.outcome = "rejected"
        return
    _read_until_done(
        ws,
        transcript,
        state,
        lambda: _post_interrupt(session, url, summary.prompt_id, transcript, http_timeout),
        deadline,
    )
    summary.outcome = state.outcome or "unknown"


def _download_all(
    session: requests.Session,
    url: str,
    history: dict[str, Any],
    prompt_id: str,
    images_dir: Path,
    deadline: float,
    http_timeout: float,
) -> list[Path]:
    saved = []
    for image in history_images(history, prompt_id):
        if time.monotonic() > deadline:
            raise RecordingTimeout("image downloads did not finish in time")
        saved.append(download_image(session, url, image, images_dir, http_timeout))
    return saved


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
    deadline = started + timeout
    url = url.rstrip("/")
    prompt_id = prompt_id or str(uuid.uuid4())
    client_id = client_id or uuid.uuid4().hex
    out_jsonl = Path(out_jsonl)
    images_dir = Path(images_dir)
    out_jsonl.parent.mkdir(parents=True, exist_ok=True)
    state = _RunState(prompt_id=prompt_id, interrupt_after_step=interrupt_after_step)
    summary = RecordingSummary(prompt_id=prompt_id, client_id=client_id, outcome="", http_status=0, out_jsonl=out_jsonl)

    with out_jsonl.open("w", encoding="utf-8") as stream, requests.Session() as session:
        ws = _connect(url, client_id, min(CONNECT_TIMEOUT, timeout))
        transcript = _Transcript(stream, path_rewrites or {})
        try:
            _run(session, ws, url, graph, transcript, state, summary, feature_flags, deadline, http_timeout)
            if summary.outcome != "rejected":
                summary.history = _get_history(session, url, prompt_id, transcript, http_timeout)
                summary.images = _download_all(
                    session, url, summary.history, prompt_id, images_dir, deadline, http_timeout
                )
        except requests.RequestException as exc:
            raise RecordingError(f"HTTP request to {url} failed: {exc}") from exc
        finally:
            summary.lines = transcript.lines
            ws.close(timeout=2)

    summary.ws_json = state.ws_json
    summary.ws_binary = state.ws_binary
    summary.event_types = dict(state.event_types)
    summary.interrupted_at_step = state.interrupted_at_step
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
    url = url.rstrip("/")
    rewrites = _sorted_rewrites(path_rewrites)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    with requests.Session() as session:
        for name in ("object_info", "system_stats"):
            reply = session.get(f"{url}/{name}", timeout=http_timeout)
            reply.raise_for_status()
            path = out_dir / f"{name}.json"
            path.write_text(rewrite(json.dumps(reply.json(), indent=1), rewrites) + "\n", encoding="utf-8")
            written[name] = path
    return written
