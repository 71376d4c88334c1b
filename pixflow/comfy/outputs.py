"""Saving a finished prompt's images, each with the job's JSON sidecar, under the output folder.

A workflow with sprite steps (`post:`) has each image saved twice: the generation as ComfyUI made it
(`<job>_<i>_raw.<ext>`, written first, so a step that fails loses nothing) and the sprite the steps made of it
(`<job>_<i>.png`); the sidecar's output entry names both, with every step's parameters and findings and the
palette used. The steps run here, on a file writer, never on the loop.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pixflow.comfy.history import images_of
from pixflow.sprites import Result

PostProcess = Callable[[bytes], Result]  # an output's bytes -> its sprite (a workflow's steps, bound to the job)

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


def _write_atomically(directory: str, name: str, data: bytes) -> str:
    path, tmp = os.path.join(directory, name), os.path.join(directory, f".{name}.tmp")
    with open(tmp, "wb") as file:
        file.write(data)
    os.replace(tmp, path)
    return path


def sidecar_json(document: dict[str, Any]) -> bytes:
    """A top-level key a line, each value compact: readable, and encoded by json's C encoder (`indent=` runs the
    pure-Python one, a tenth of the loop's time per job when the loop saves outputs)."""
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in document.items()]
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode()


def write_outputs(
    images: list[dict[str, Any]],
    datas: list[bytes],
    job_dir: Path,
    job_id: str,
    sidecar: dict[str, Any],
    post: PostProcess | None = None,
) -> list[dict[str, Any]]:
    """Write downloaded images (as images_in_history names them) into job_dir, then the sidecar naming them; with
    `post`, each image's sprite beside it (a SpriteError from a step propagates, the raw images already written)."""
    directory = os.path.abspath(job_dir)
    os.makedirs(directory, exist_ok=True)
    outputs = []
    for index, (image, data) in enumerate(zip(images, datas, strict=True)):
        suffix = os.path.splitext(image["filename"])[1] or ".png"
        if post is None:
            path, written = _write_atomically(directory, f"{job_id}_{index:02d}{suffix}", data), data
        else:
            raw = _write_atomically(directory, f"{job_id}_{index:02d}_raw{suffix}", data)
            sprite = post(data)
            path, written = _write_atomically(directory, f"{job_id}_{index:02d}.png", sprite.png), sprite.png
        size = png_size(written)
        entry: dict[str, Any] = {
            "index": index,
            "path": path,
            "node": image["node"],
            "comfy_filename": image["filename"],
            "width": size[0] if size else None,
            "height": size[1] if size else None,
            "bytes": len(written),
        }
        if post is not None:
            entry.update(raw_path=raw, raw_bytes=len(data), palette=list(sprite.palette), post=list(sprite.records))
        outputs.append(entry)
    _write_atomically(directory, f"{job_id}.json", sidecar_json({**sidecar, "outputs": outputs}))
    return outputs
