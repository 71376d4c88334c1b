"""ComfyUI's HTTP API: each call has a timeout and raises BackendError naming the URL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from pixflow.errors import BackendError

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class PromptRejected:
    """ComfyUI answered 400: the prompt failed validation."""

    error: dict[str, Any]
    node_errors: dict[str, Any] = field(default_factory=dict)


# Sent first on every WebSocket: asks ComfyUI for previews with metadata (type 4), which name their prompt.
FEATURE_FLAGS: dict[str, Any] = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}


class ComfyClient:
    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    @property
    def ws_url(self) -> str:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}{parts.path}/ws"

    def close(self) -> None:
        self._session.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.base_url}{path}"
        try:
            return self._session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as e:
            raise BackendError(f"ComfyUI at {self.base_url} is unreachable ({method} {path}): {e}") from e

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

    def submit(self, graph: dict[str, Any], prompt_id: str, client_id: str) -> dict[str, Any] | PromptRejected:
        body = {"prompt": graph, "client_id": client_id, "prompt_id": prompt_id}
        response = self._request("POST", "/prompt", json=body)
        if response.status_code == 400:
            try:
                payload = response.json()
            except ValueError:
                payload = {"error": {"type": "bad_request", "message": response.text[:300]}}
            return PromptRejected(payload.get("error") or {}, payload.get("node_errors") or {})
        if response.status_code != 200:
            raise BackendError(
                f"ComfyUI at {self.base_url} answered {response.status_code} to POST /prompt: {response.text[:300]}"
            )
        return response.json()

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The history entry of a finished prompt, or None while unknown, queued or running."""
        body = self._json("GET", f"/history/{prompt_id}")
        return body.get(prompt_id) if isinstance(body, dict) else None

    def view(self, filename: str, subfolder: str = "", folder_type: str = "output") -> bytes:
        params = {"filename": filename, "subfolder": subfolder, "type": folder_type}
        response = self._request("GET", "/view", params=params)
        if response.status_code != 200:
            raise BackendError(f"ComfyUI at {self.base_url} has no image {filename!r} ({response.status_code})")
        return response.content

    def queue(self) -> dict[str, Any]:
        return self._json("GET", "/queue")

    def delete_from_queue(self, prompt_ids: list[str]) -> None:
        self._request("POST", "/queue", json={"delete": prompt_ids})

    def interrupt(self, prompt_id: str | None) -> None:
        """Interrupt that prompt if it is running now; None interrupts whatever runs."""
        self._request("POST", "/interrupt", json={"prompt_id": prompt_id} if prompt_id else {})

    def object_info(self, class_type: str | None = None) -> dict[str, Any]:
        return self._json("GET", f"/object_info/{class_type}" if class_type else "/object_info")

    def system_stats(self) -> dict[str, Any]:
        return self._json("GET", "/system_stats")

    def checkpoints(self) -> list[str]:
        """Checkpoint names, as CheckpointLoaderSimple's option list."""
        info = self.object_info("CheckpointLoaderSimple")
        spec = info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"]
        options = spec[0]
        if options == "COMBO":  # the newer combo form: ["COMBO", {"options": [...]}]
            options = spec[1].get("options", [])
        return list(options)
