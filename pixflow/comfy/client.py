"""ComfyUI's HTTP API (docs/comfyui.md): each call has a timeout and raises BackendError naming the URL."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import pycurl

from pixflow.comfy.transport import Transport, Upload, curl_reason, prepare
from pixflow.errors import BackendError

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class PromptRejected:
    """ComfyUI answered 400: the prompt failed validation."""

    error: dict[str, Any]
    node_errors: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """An HTTP answer as it came: its status and its body (parsed JSON, else the text)."""

    status: int
    body: Any


# Sent first on every WebSocket: asks ComfyUI for previews with metadata (type 4), which name their prompt.
FEATURE_FLAGS: dict[str, Any] = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}


@dataclass(frozen=True)
class Answer:
    """An HTTP answer read whole: what the calls below need of it."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)  # ValueError when it is not JSON


class _Connection:
    """A keep-alive libcurl connection for the calls a backend makes off the loop (control commands on the shared
    control pool, the recorder): the GIL is released for the whole exchange, and a call costs a third of what
    urllib3 and http.client cost in Python (docs/performance.md)."""

    def __init__(self, transport: Transport) -> None:
        self._curl = transport.handle()

    def request(self, url: str, body: bytes | None) -> Answer:
        """GET url, or POST body to it as JSON."""
        content = io.BytesIO()
        prepare(self._curl, url, body, content)
        self._curl.perform()  # pycurl.error on a failed exchange
        return Answer(self._curl.getinfo(pycurl.RESPONSE_CODE), content.getvalue())

    def close(self) -> None:
        self._curl.close()


def prompt_body(graph: dict[str, Any], prompt_id: str, client_id: str) -> dict[str, Any]:
    return {"prompt": graph, "client_id": client_id, "prompt_id": prompt_id}


def _reply(answer: Answer) -> Reply:
    try:
        return Reply(answer.status_code, answer.json())
    except ValueError:
        return Reply(answer.status_code, answer.text)


def _view_params(image: dict[str, Any]) -> dict[str, str]:
    return {"filename": image["filename"], "subfolder": image.get("subfolder", ""), "type": image.get("type", "output")}


def _json_bytes(value: Any) -> bytes:
    # No NaN or Infinity, which ComfyUI's parser would refuse.
    return json.dumps(value, allow_nan=False).encode()


class ComfyClient:
    """One ComfyUI's HTTP API. Its transport (comfy/transport.py) is chosen once, here: the loop's transfers
    (comfy/loop_http.py) use the same one, and the methods below build their requests and read their answers."""

    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.transport = Transport.for_url(self.base_url, timeout)
        self._connection: _Connection | None = None  # opened on the first call made off the loop

    @property
    def ws_url(self) -> str:
        """http://host:port[/prefix] -> ws://host:port[/prefix]/ws (wss for https)."""
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}{parts.path}/ws"

    def socket_url(self, client_id: str) -> str:
        """The WebSocket URL for one connection: a fresh clientId each time (docs/comfyui.md, "Client ids")."""
        return f"{self.ws_url}?{urlencode({'clientId': client_id})}"

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> ComfyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None) -> Answer:
        url = f"{self.base_url}{path}" + (f"?{urlencode(params)}" if params else "")
        if self._connection is None:
            self._connection = _Connection(self.transport)
        try:
            return self._connection.request(url, _json_bytes(json) if method == "POST" else None)
        except pycurl.error as e:
            raise self.unreachable(f"{method} {path}", curl_reason(e)) from e

    def unreachable(self, call: str, reason: str) -> BackendError:
        """The error for a call ("GET /queue") that got no answer, naming the server and why."""
        return BackendError(f"ComfyUI at {self.base_url} is unreachable ({call}): {reason}")

    def _json(self, method: str, path: str) -> Any:
        return self._json_of(self._request(method, path), method, path)

    def _json_of(self, response: Answer, method: str, path: str) -> Any:
        if response.status_code != 200:
            raise BackendError(
                f"ComfyUI at {self.base_url} answered {response.status_code} to {method} {path}: {response.text[:300]}"
            )
        try:
            return response.json()
        except ValueError as e:
            raise BackendError(f"ComfyUI at {self.base_url} sent non-JSON for {method} {path}") from e

    def _json_object(self, method: str, path: str) -> dict[str, Any]:
        return self._object_of(self._request(method, path), method, path)

    def _object_of(self, answer: Answer, method: str, path: str) -> dict[str, Any]:
        body = self._json_of(answer, method, path)
        if not isinstance(body, dict):
            raise BackendError(f"ComfyUI at {self.base_url} sent {type(body).__name__}, not an object, for {path}")
        return body

    def post_prompt(self, body: dict[str, Any]) -> Reply:
        """POST /prompt as is, whatever the status: 200 queued it, 400 is a validation error, 500 a bad body."""
        return _reply(self._request("POST", "/prompt", json=body))

    def submit(self, graph: dict[str, Any], prompt_id: str, client_id: str) -> dict[str, Any] | PromptRejected:
        """Queue the graph under our own prompt id; ComfyUI's 200 reply, or what its validation rejected."""
        return self.submitted(self._request("POST", "/prompt", json=prompt_body(graph, prompt_id, client_id)))

    def submit_request(self, graph: dict[str, Any], prompt_id: str, client_id: str) -> tuple[str, bytes]:
        """What `submit` sends, as URL and JSON body (the loop sends it itself: comfy/loop_http.py)."""
        return f"{self.base_url}/prompt", _json_bytes(prompt_body(graph, prompt_id, client_id))

    def submitted(self, answer: Answer) -> dict[str, Any] | PromptRejected:
        """ComfyUI's answer to POST /prompt: its 200 reply, what its validation rejected, else BackendError."""
        reply = _reply(answer)
        if reply.status == 400:
            if not isinstance(reply.body, dict):
                return PromptRejected({"type": "bad_request", "message": str(reply.body)[:300]})
            return PromptRejected(reply.body.get("error") or {}, reply.body.get("node_errors") or {})
        if reply.status != 200 or not isinstance(reply.body, dict):
            raise BackendError(
                f"ComfyUI at {self.base_url} answered {reply.status} to POST /prompt: {str(reply.body)[:300]}"
            )
        return reply.body

    def upload_request(self, data: bytes, name: str) -> tuple[str, Upload]:
        """POST /upload/image into ComfyUI's input folder as `name` ("subfolder/file", as LoadImage takes it),
        replacing a file of that name (a job sent again uploads the same name): as URL and form (the loop sends
        it, comfy/control_lane.py)."""
        subfolder, _, filename = name.rpartition("/")
        fields = (("type", "input"), ("subfolder", subfolder), ("overwrite", "true"))
        return f"{self.base_url}/upload/image", Upload(fields, "image", filename, data)

    def uploaded(self, answer: Answer, name: str) -> None:
        """ComfyUI's answer to POST /upload/image: BackendError unless it stored the file under its name."""
        filename = name.rpartition("/")[2]
        if answer.status_code != 200:
            raise BackendError(
                f"ComfyUI at {self.base_url} answered {answer.status_code} to POST /upload/image: {answer.text[:300]}"
            )
        try:
            stored = answer.json()
        except ValueError as e:
            raise BackendError(f"ComfyUI at {self.base_url} sent non-JSON for POST /upload/image") from e
        if not isinstance(stored, dict) or stored.get("name") != filename:
            raise BackendError(f"ComfyUI at {self.base_url} stored the image {name!r} as {stored!r}")

    def history_reply(self, prompt_id: str) -> dict[str, Any]:
        """GET /history/{id} as ComfyUI answers it: {prompt_id: entry}, or {} while unknown, queued or running."""
        return self._json_object("GET", f"/history/{prompt_id}")

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The history entry of a finished prompt, or None while unknown, queued or running."""
        return self.history_entry(self.history_reply(prompt_id), prompt_id)

    def history_url(self, prompt_id: str) -> str:
        """What `history_reply` asks for, as a URL (comfy/loop_fetch.py asks it on the loop)."""
        return f"{self.base_url}/history/{prompt_id}"

    def history_answer(self, answer: Answer, prompt_id: str) -> dict[str, Any] | None:
        """The entry in an answer to GET /history/{id}, as `history` reads it."""
        reply = self._object_of(answer, "GET", f"/history/{prompt_id}")
        return self.history_entry(reply, prompt_id)

    @staticmethod
    def history_entry(reply: dict[str, Any], prompt_id: str) -> dict[str, Any] | None:
        entry = reply.get(prompt_id)
        return entry if isinstance(entry, dict) else None

    def view(self, image: dict[str, Any]) -> bytes:
        """One image of a history entry or an `executed` event ({"filename", "subfolder", "type"})."""
        return self.image_of(self._request("GET", "/view", params=_view_params(image)), image["filename"])

    def view_url(self, image: dict[str, Any]) -> str:
        """What `view` asks for, as a URL (comfy/loop_fetch.py downloads it on the loop)."""
        return f"{self.base_url}/view?{urlencode(_view_params(image))}"

    def image_of(self, answer: Answer, filename: str) -> bytes:
        """The image in an answer to GET /view."""
        if answer.status_code != 200:
            raise BackendError(f"ComfyUI at {self.base_url} has no image {filename!r} ({answer.status_code})")
        return answer.content

    def queue(self) -> dict[str, Any]:
        return self._json_object("GET", "/queue")

    def delete_from_queue(self, prompt_ids: list[str]) -> None:
        """Takes pending prompts off the queue; a running one is not touched (it needs an interrupt)."""
        self._request("POST", "/queue", json={"delete": prompt_ids})

    def interrupt(self, prompt_id: str | None) -> int:
        """Interrupt that prompt if it is running now; None interrupts whatever runs.

        Returns the HTTP status, always 200 from ComfyUI: only `execution_interrupted` confirms it.
        """
        response = self._request("POST", "/interrupt", json={"prompt_id": prompt_id} if prompt_id else {})
        return response.status_code

    def object_info(self, class_type: str | None = None) -> dict[str, Any]:
        return self._json_object("GET", f"/object_info/{class_type}" if class_type else "/object_info")

    def system_stats(self) -> dict[str, Any]:
        return self._json_object("GET", "/system_stats")

    def checkpoints(self) -> list[str]:
        """Checkpoint names, as CheckpointLoaderSimple's option list."""
        info = self.object_info("CheckpointLoaderSimple")
        spec = info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"]
        options = spec[0]
        if options == "COMBO":  # the newer combo form: ["COMBO", {"options": [...]}]
            options = spec[1].get("options", [])
        return list(options)
