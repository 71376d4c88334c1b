"""Saving a finished prompt's images, each with the job's JSON sidecar, under the output folder."""

from __future__ import annotations

import json
import os
import struct
import threading
from pathlib import Path
from typing import Any

from pixflow.comfy.client import ComfyClient
from pixflow.comfy.history import images_of
from pixflow.errors import BackendError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) >= 24 and data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return None


def images_in_history(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The images a prompt produced, output nodes in graph order; temp previews only when nothing else."""
    images = images_of(entry)
    saved = [image for image in images if image.get("type", "output") == "output"]
    return saved or images


def wait_for_history(
    client: ComfyClient, prompt_id: str, stop: threading.Event, attempts: int = 50, interval: float = 0.1
) -> dict[str, Any]:
    """History is written just before the final `executing` event; allow for it to lag a little."""
    for _ in range(attempts):
        entry = client.history(prompt_id)
        if entry:
            return entry
        if stop.wait(interval):
            break
    raise BackendError(f"ComfyUI at {client.base_url} has no history for prompt {prompt_id}")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save_outputs(
    client: ComfyClient, entry: dict[str, Any], job_dir: Path, job_id: str, sidecar: dict[str, Any]
) -> list[dict[str, Any]]:
    """Download every image of a history entry into job_dir, then write the sidecar naming them."""
    job_dir.mkdir(parents=True, exist_ok=True)
    outputs = []
    for index, image in enumerate(images_in_history(entry)):
        data = client.view(image["filename"], image.get("subfolder", ""), image.get("type", "output"))
        suffix = Path(image["filename"]).suffix or ".png"
        path = job_dir / f"{job_id}_{index:02d}{suffix}"
        _write_atomically(path, data)
        size = png_size(data)
        outputs.append(
            {
                "index": index,
                "path": str(path.resolve()),
                "node": image["node"],
                "comfy_filename": image["filename"],
                "width": size[0] if size else None,
                "height": size[1] if size else None,
                "bytes": len(data),
            }
        )
    document = {**sidecar, "outputs": outputs}
    _write_atomically(job_dir / f"{job_id}.json", json.dumps(document, indent=2).encode())
    return outputs
