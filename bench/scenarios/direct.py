"""The baseline client: ComfyUI's own API with no pixflow in between."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import requests
import websocket

from bench.harness import REPO, ReplayProcess
from pixflow.replay.server import ReplayServer


class DirectClient:
    """A client of ComfyUI's own API with no pixflow in between: the baselines of the latency and throughput
    figures. One WebSocket, one HTTP session, prompts submitted one at a time."""

    def __init__(self, replay: ReplayServer | ReplayProcess) -> None:
        self.url = replay.url
        self.client_id = uuid.uuid4().hex
        self.ws = websocket.create_connection(
            f"ws://{replay.host}:{replay.port}/ws?clientId={self.client_id}", timeout=10
        )
        self.session = requests.Session()
        self.graph = json.loads((REPO / "workflows" / "txt2img.json").read_text())

    def close(self) -> None:
        self.ws.close()
        self.session.close()

    def run(self, on_progress: Any = None) -> str:
        """Submit one prompt and read frames until it ends; on_progress(prompt_id, value) for each step."""
        prompt_id = str(uuid.uuid4())
        body = {"prompt": self.graph, "client_id": self.client_id, "prompt_id": prompt_id}
        self.session.post(f"{self.url}/prompt", json=body, timeout=10)
        while True:
            message = self.ws.recv()
            if isinstance(message, bytes):
                continue
            data = json.loads(message)
            kind, fields = data["type"], data.get("data") or {}
            if kind == "progress" and on_progress is not None:
                on_progress(fields["prompt_id"], fields["value"])
            if kind == "executing" and fields.get("node") is None and fields.get("prompt_id") == prompt_id:
                return prompt_id

    def save_outputs(self, prompt_id: str, out: Path) -> None:
        entry = self.session.get(f"{self.url}/history/{prompt_id}", timeout=10).json()[prompt_id]
        for node_output in entry["outputs"].values():
            for index, image in enumerate(node_output["images"]):
                data = self.session.get(f"{self.url}/view", params=image, timeout=10).content
                (out / f"{prompt_id}_{index}.png").write_bytes(data)
