"""Input images sent with a job (generate's `images`): checked, named for ComfyUI, kept for sending again.

Each image is checked before the job exists: its bytes at most `max_image_bytes`, a format in `image_formats`,
each side at most `max_image_side` (read from the header, so a huge image is never decoded). It is uploaded to
ComfyUI's input folder under `pixflow/` with a name of its own job (comfy/commands.py, just before the prompt).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from pixflow.errors import ErrorCode, RequestError
from pixflow.workflows import Workflow

UPLOAD_SUBFOLDER = "pixflow"  # in ComfyUI's input folder
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "gif": "gif", "bmp": "bmp"}


def _invalid(message: str) -> RequestError:
    return RequestError(ErrorCode.INVALID_PARAMS, message)


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_side: int
    formats: Sequence[str]


def comfy_name(job_id: str, name: str, image_format: str) -> str:
    """The name the image has in ComfyUI (`subfolder/file`, as LoadImage takes it): unique to the job and image."""
    tag = hashlib.sha256(job_id.encode()).hexdigest()[:16]
    return f"{UPLOAD_SUBFOLDER}/{tag}-{name}.{EXTENSIONS.get(image_format, image_format)}"


def inspect(name: str, data: Any, limits: ImageLimits) -> dict[str, Any]:
    """sha256, format, width, height and bytes of one image, or invalid_params naming it and the limits."""
    label = f"'images.{name}'"
    if not isinstance(data, bytes):
        raise _invalid(f"{label} must be the image's bytes (msgpack bin), got {type(data).__name__}")
    if len(data) > limits.max_bytes:
        raise _invalid(f"{label} is {len(data)} bytes; the limit is {limits.max_bytes} (max_image_bytes)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = (image.format or "").lower()
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError) as e:
        allowed = ", ".join(limits.formats)
        raise _invalid(f"{label} is not an image this worker can read ({e}); allowed: {allowed}") from e
    if image_format not in limits.formats:
        raise _invalid(f"{label} is {image_format or 'of no known format'}; allowed: {', '.join(limits.formats)}")
    if max(width, height) > limits.max_side:
        raise _invalid(f"{label} is {width}x{height}; each side at most {limits.max_side} (max_image_side)")
    digest = hashlib.sha256(data).hexdigest()
    return {"sha256": digest, "format": image_format, "width": width, "height": height, "bytes": len(data)}


def check_images(workflow: Workflow, images: Any, limits: ImageLimits) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Each image of the request against the workflow's image slots: name -> (bytes, what it is)."""
    if images is None:
        images = {}
    if not isinstance(images, dict):
        raise _invalid("'images' must be a map of image names to image bytes")
    for name in images:
        if name not in workflow.images:
            takes = ", ".join(sorted(workflow.images)) or "none"
            raise _invalid(f"workflow {workflow.name!r} has no image {name!r}; its images: {takes}")
    for slot in workflow.images.values():
        if slot.required and slot.name not in images:
            raise _invalid(f"'images.{slot.name}' is required by workflow {workflow.name!r}: {slot.description}")
    return {name: (data, inspect(name, data, limits)) for name, data in images.items()}


def keep(job_dir: Path, job_id: str, checked: dict[str, tuple[bytes, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Write each image under the job's folder (`inputs/NAME.EXT`, atomically) and say where it is."""
    kept: dict[str, dict[str, Any]] = {}
    folder = job_dir / "inputs"
    for name, (data, info) in checked.items():
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.{EXTENSIONS.get(info['format'], info['format'])}"
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_bytes(data)
        partial.replace(path)
        kept[name] = {**info, "file": str(path.resolve()), "comfy_name": comfy_name(job_id, name, info["format"])}
    return kept
