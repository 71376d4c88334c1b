"""Helpers of the workflow tests: a replay ComfyUI that takes uploads and offers LoRAs, images, sidecars."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

from pixflow.client import Client
from pixflow.replay.models import BackendProfile
from pixflow.replay.server import ReplayServer
from pixflow.testing import wait_for
from tests.helpers import FIXTURES, TERMINAL_STATES

TINY_LORA = "tiny-lora.safetensors"


class UploadingReplay(ReplayServer):
    """The replay server (it takes ComfyUI's POST /upload/image: pixflow/replay/uploads.py) offering `loras` only,
    none by default, rather than the stand-in's own (pixflow/replay/models.py)."""

    def __init__(self, loras: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(FIXTURES, speed=0, profile=BackendProfile(loras=loras), **kwargs)

    @property
    def uploads(self) -> dict[str, list[bytes]]:
        assert self.state is not None
        return self.state.uploads


def png(width: int = 40, height: int = 24, colour: tuple[int, int, int] = (200, 30, 30), kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format=kind)
    return buffer.getvalue()


def wait_done(client: Client, job_id: str, timeout: float = 15.0) -> dict[str, Any]:
    job: dict[str, Any] = wait_for(
        lambda: (snapshot := client.status(job_id))["state"] in TERMINAL_STATES and snapshot,
        timeout,
        f"job {job_id} to end",
    )
    return job


def sidecar(output_dir: Path, job_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((output_dir / job_id / f"{job_id}.json").read_text())
    return data


def sent_graph(replay: ReplayServer, prompt_id: str) -> dict[str, Any]:
    """The graph ComfyUI (the replay) got for a prompt, from its history entry."""
    graph: dict[str, Any] = replay.call(lambda state: state.history[prompt_id]["prompt"][2])
    return graph


def by_name(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in entries}
