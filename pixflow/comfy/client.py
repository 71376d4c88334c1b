"""ComfyUI's HTTP API (docs/comfyui.md): each call has a timeout and raises BackendError naming the URL."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import pycurl
import requests

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


class _Curl:
    """A keep-alive connection to a plain-HTTP ComfyUI that no proxy or .netrc entry stands in front of, through
    libcurl: a call costs a third of what urllib3 and http.client cost in Python (their header parsing was most of an
    HTTP thread's CPU per job), and the GIL is released for the whole exchange. Anything else (https, a proxy, auth,
    uploads) keeps the requests session."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self._base_url = base_url
        self._curl = curl_handle(timeout)

    def request(self, target: str, body: bytes | None) -> Answer:
        """GET target, or POST body to it as JSON."""
        content = io.BytesIO()
        prepare(self._curl, self._base_url + target, body, content)
        self._curl.perform()  # pycurl.error on a failed exchange
        return Answer(self._curl.getinfo(pycurl.RESPONSE_CODE), content.getvalue())

    def close(self) -> None:
        self._curl.close()


def curl_handle(timeout: float) -> pycurl.Curl:
    """A libcurl handle for a plain-HTTP ComfyUI, with pixflow's timeouts."""
    curl = pycurl.Curl()
    curl.setopt(pycurl.NOSIGNAL, 1)  # timeouts without SIGALRM: safe off the main thread
    curl.setopt(pycurl.PROXY, "")  # the environment named no proxy for this host: never guess one
    curl.setopt(pycurl.CONNECTTIMEOUT_MS, int(timeout * 1000))
    # As a read timeout: a transfer that moves nothing for `timeout` seconds fails (a long download does not).
    curl.setopt(pycurl.LOW_SPEED_LIMIT, 1)
    curl.setopt(pycurl.LOW_SPEED_TIME, max(1, round(timeout)))
    return curl


def prepare(curl: pycurl.Curl, url: str, body: bytes | None, sink: io.BytesIO) -> None:
    """Set a handle up for GET url, or for POST body to it as JSON; the answer's body goes to sink."""
    curl.setopt(pycurl.URL, url)
    curl.setopt(pycurl.WRITEDATA, sink)
    if body is None:
        curl.setopt(pycurl.HTTPGET, 1)
        curl.setopt(pycurl.HTTPHEADER, [])
    else:
        curl.setopt(pycurl.POSTFIELDS, body)
        curl.setopt(pycurl.HTTPHEADER, ["Content-Type: application/json", "Expect:"])


def curl_reason(error: pycurl.error) -> str:
    """libcurl's own words for a failed exchange ("Failed to connect to ... Connection refused")."""
    return str(error.args[1]) if len(error.args) > 1 else str(error)


def _direct(base_url: str, session: requests.Session, timeout: float) -> _Curl | None:
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname is None or session.proxies or session.auth is not None:
        return None
    return _Curl(f"{parts.scheme}://{parts.netloc}", timeout)


def _session_for(base_url: str) -> requests.Session:
    """A session that reads the environment (proxies, CA bundle, .netrc) once, for this one server: requests
    would otherwise read and match it again on every call (a sixth of an HTTP thread's CPU per request)."""
    session = requests.Session()
    settings = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    session.auth = requests.utils.get_netrc_auth(base_url)
    session.trust_env = False
    return session


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
    # As requests sends a json= body: no NaN or Infinity, which ComfyUI's parser would refuse.
    return json.dumps(value, allow_nan=False).encode()


class ComfyClient:
    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = _session_for(self.base_url)
        self._direct = _direct(self.base_url, self._session, timeout)
        self._prefix = urlsplit(self.base_url).path  # ComfyUI behind a path prefix

    @property
    def direct(self) -> bool:
        """Plain HTTP, no proxy, no auth: the worker loop may download from it itself (comfy/loop_http.py)."""
        return self._direct is not None

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
        self._session.close()
        if self._direct is not None:
            self._direct.close()

    def __enter__(self) -> ComfyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        **form: Any,  # data= and files=: a multipart upload, through requests
    ) -> Answer:
        if self._direct is None or form or method not in ("GET", "POST"):
            return self._through_session(method, path, json=json, params=params, **form)
        target = f"{self._prefix}{path}" + (f"?{urlencode(params)}" if params else "")
        try:
            return self._direct.request(target, _json_bytes(json) if method == "POST" else None)
        except pycurl.error as e:
            raise self.unreachable(f"{method} {path}", curl_reason(e)) from e

    def unreachable(self, call: str, reason: str) -> BackendError:
        """The error for a call ("GET /queue") that got no answer, naming the server and why."""
        return BackendError(f"ComfyUI at {self.base_url} is unreachable ({call}): {reason}")

    def _through_session(self, method: str, path: str, **kwargs: Any) -> Answer:
        url = f"{self.base_url}{path}"
        try:
            response = self._session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as e:
            raise self.unreachable(f"{method} {path}", str(e)) from e
        return Answer(response.status_code, response.content)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        if response.status_code != 200:
            raise BackendError(
                f"ComfyUI at {self.base_url} answered {response.status_code} to {method} {path}: {response.text[:300]}"
            )
        try:
            return response.json()
        except ValueError as e:
            raise BackendError(f"ComfyUI at {self.base_url} sent non-JSON for {method} {path}") from e

    def _json_object(self, method: str, path: str) -> dict[str, Any]:
        body = self._json(method, path)
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

    def upload_image(self, data: bytes, name: str) -> None:
        """POST /upload/image into ComfyUI's input folder as `name` ("subfolder/file", as LoadImage takes it),
        replacing a file of that name (a job sent again uploads the same name)."""
        subfolder, _, filename = name.rpartition("/")
        form = {"type": "input", "subfolder": subfolder, "overwrite": "true"}
        response = self._request("POST", "/upload/image", data=form, files={"image": (filename, data)})
        if response.status_code != 200:
            raise BackendError(
                f"ComfyUI at {self.base_url} answered {response.status_code} to POST /upload/image: "
                f"{response.text[:300]}"
            )
        try:
            stored = response.json()
        except ValueError as e:
            raise BackendError(f"ComfyUI at {self.base_url} sent non-JSON for POST /upload/image") from e
        if not isinstance(stored, dict) or stored.get("name") != filename:
            raise BackendError(f"ComfyUI at {self.base_url} stored the image {name!r} as {stored!r}")

    def history_reply(self, prompt_id: str) -> dict[str, Any]:
        """GET /history/{id} as ComfyUI answers it: {prompt_id: entry}, or {} while unknown, queued or running."""
        return self._json_object("GET", f"/history/{prompt_id}")

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The history entry of a finished prompt, or None while unknown, queued or running."""
        entry = self.history_reply(prompt_id).get(prompt_id)
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
