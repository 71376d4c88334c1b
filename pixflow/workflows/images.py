"""Input images sent with a job (generate's `images`): checked, named for ComfyUI, kept for sending again.

Each image is checked before the job exists: its bytes at most `max_image_bytes`, a format in `image_formats`,
each side at most `max_image_side`. The sides are read from the header before anything else (no pixel is ever
decoded here): a few hundred KB of PNG can declare a canvas of billions of pixels, and Pillow's own guard against
such images (DecompressionBombError) would refuse it with an exception before pixflow could name the limit. It is
uploaded to ComfyUI's input folder under `pixflow/` with a name of its own job (comfy/control_lane.py, on the
loop, just before the prompt).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from pixflow.comfy.outputs import png_size
from pixflow.errors import ErrorCode, RequestError
from pixflow.workflows import Workflow

UPLOAD_SUBFOLDER = "pixflow"  # in ComfyUI's input folder
MAX_IMAGES_PER_JOB = 16  # entries of `images`, whatever the workflow (a workflow names its own, fewer, slots)
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


# JPEG frame headers (SOFn) hold the size; C4 (DHT), C8 (reserved) and CC (DAC) share the range but are not frames.
JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
JPEG_SCAN_SEGMENTS = 256  # segments read before the frame header; past that, Pillow (with its guard) decides
_JPEG_FILL = re.compile(rb"\xff+")


@dataclass(frozen=True)
class Declared:
    """What an image's header says it is, read without decoding anything."""

    format: str  # as Pillow names it: png, jpeg, webp, gif
    width: int
    height: int


def _le(data: bytes, start: int, length: int) -> int:
    return int.from_bytes(data[start : start + length], "little")


def _be(data: bytes, start: int, length: int) -> int:
    return int.from_bytes(data[start : start + length], "big")


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    position = 2  # after SOI
    for _ in range(JPEG_SCAN_SEGMENTS):
        fill = _JPEG_FILL.match(data, position)  # a marker is 0xFF (any number of them) and its code
        if fill is None or fill.end() >= len(data):
            return None
        marker, position = data[fill.end()], fill.end() + 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers: no length
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before the pixels
            return None
        if marker in JPEG_FRAMES:  # length (2), precision (1), height (2), width (2)
            return (_be(data, position + 5, 2), _be(data, position + 3, 2)) if position + 7 <= len(data) else None
        position += _be(data, position, 2)
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:  # extended: the canvas, 24 bits a side, minus one
        return 1 + _le(data, 24, 3), 1 + _le(data, 27, 3)
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":  # lossy: 14 bits a side
        return _le(data, 26, 2) & 0x3FFF, _le(data, 28, 2) & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:  # lossless: 14 bits a side, minus one
        bits = _le(data, 21, 4)
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def declared(data: bytes) -> Declared | None:
    """The format and size a PNG, JPEG, WebP or GIF header declares; None for anything else (Pillow reads it)."""
    size: tuple[int, int] | None = None
    if (png := png_size(data)) is not None:
        kind, size = "png", png
    elif data.startswith(b"\xff\xd8\xff"):
        kind, size = "jpeg", _jpeg_size(data)
    elif data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        kind, size = "webp", _webp_size(data)
    elif data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        kind, size = "gif", (_le(data, 6, 2), _le(data, 8, 2))
    return Declared(kind, *size) if size is not None else None


def _too_large(label: str, width: int, height: int, limits: ImageLimits) -> RequestError:
    return _invalid(f"{label} is {width}x{height}; each side at most {limits.max_side} (max_image_side)")


def _check_declared(label: str, data: bytes, limits: ImageLimits) -> None:
    """Refuse from the header alone an image of a format taken that is too large, before Pillow opens it (any
    other is Pillow's to identify: its format is refused after, naming it)."""
    header = declared(data)
    if header is None or header.format not in limits.formats:
        return
    if max(header.width, header.height) > limits.max_side:
        raise _too_large(label, header.width, header.height, limits)


def inspect(name: str, data: Any, limits: ImageLimits) -> dict[str, Any]:
    """sha256, format, width, height and bytes of one image, or invalid_params naming it and the limits."""
    label = f"'images.{name}'"
    if not isinstance(data, bytes):
        raise _invalid(f"{label} must be the image's bytes (msgpack bin), got {type(data).__name__}")
    if len(data) > limits.max_bytes:
        raise _invalid(f"{label} is {len(data)} bytes; the limit is {limits.max_bytes} (max_image_bytes)")
    _check_declared(label, data, limits)
    try:
        # Lazy: Image.open reads the header only; nothing here ever loads the pixels.
        with Image.open(io.BytesIO(data)) as image:
            image_format = (image.format or "").lower()
            width, height = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # A format without a header of our own (or a max_image_side above Pillow's limit): Pillow's guard fired on
        # the declared size (the warning is an exception only where warnings are errors).
        raise _invalid(
            f"{label} declares more pixels than this worker opens ({e}); each side at most {limits.max_side} "
            "(max_image_side)"
        ) from e
    except (UnidentifiedImageError, OSError, ValueError) as e:
        allowed = ", ".join(limits.formats)
        raise _invalid(f"{label} is not an image this worker can read ({e}); allowed: {allowed}") from e
    if image_format not in limits.formats:
        raise _invalid(f"{label} is {image_format or 'of no known format'}; allowed: {', '.join(limits.formats)}")
    if max(width, height) > limits.max_side:
        raise _too_large(label, width, height, limits)
    digest = hashlib.sha256(data).hexdigest()
    return {"sha256": digest, "format": image_format, "width": width, "height": height, "bytes": len(data)}


def check_images(workflow: Workflow, images: Any, limits: ImageLimits) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Each image of the request against the workflow's image slots: name -> (bytes, what it is)."""
    if images is None:
        images = {}
    if not isinstance(images, dict):
        raise _invalid("'images' must be a map of image names to image bytes")
    if len(images) > MAX_IMAGES_PER_JOB:
        raise _invalid(f"'images' has {len(images)} entries; the limit is {MAX_IMAGES_PER_JOB}")
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
