"""`fetch_output` and `fetch_preview`: a job's images over the wire, for clients not on the worker's host.

They run on the loop, so a read must stay short: the file's size is checked before it is read, and anything over
`max_fetch_bytes` is refused (`too_large`) instead of being read. Outputs are PNGs of a few hundred KiB to a few
MiB; a thumbnail (`max_side`) is decoded and re-encoded with Pillow, a few tens of milliseconds at worst.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from pixflow.errors import ErrorCode, RequestError
from pixflow.groups.sheet_plan import ROW_NAME
from pixflow.jobs.job import Job
from pixflow.serving.fields import MAX_OUTPUT_INDEX, MAX_THUMB_SIDE, MIN_THUMB_SIDE, parse_int

# What fetch_output can fetch of an output: the sprite (or the image as saved when there are no steps), or the
# generation the sprite steps started from.
VARIANTS = ("final", "raw")


def output_image(job: Job, message: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """Its fields are read in the order a client learns of its mistakes: which image, then which size."""
    index = parse_int(message, "index", 0, 0, MAX_OUTPUT_INDEX) or 0
    if index >= len(job.outputs):
        saved = len(job.outputs)
        raise RequestError(ErrorCode.NOT_FOUND, f"job {job.job_id} ({job.state}) has {saved} images; no index {index}")
    variant = message.get("variant", "final")
    if variant not in VARIANTS:
        raise RequestError(
            ErrorCode.INVALID_PARAMS, f"'variant' must be one of: {', '.join(VARIANTS)}; got {variant!r}"
        )
    output = job.outputs[index]
    if variant == "raw" and "raw_path" not in output:
        raise RequestError(
            ErrorCode.NOT_FOUND,
            f"image {index} of job {job.job_id} has no raw variant: its workflow has no sprite steps",
        )
    path = Path(str(output.get("raw_path" if variant == "raw" else "path", "")))
    try:
        size = path.stat().st_size
    except OSError as e:
        raise RequestError(ErrorCode.NOT_FOUND, f"image {index} of job {job.job_id} is no longer on disk: {e}") from e
    max_side = parse_int(message, "max_side", None, MIN_THUMB_SIDE, MAX_THUMB_SIDE)
    # A thumbnail may come from a bigger file, but never read what would stall the loop: twice the cap at most.
    _check_size(size, max_bytes * (2 if max_side else 1), f"image {index} of job {job.job_id}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RequestError(ErrorCode.NOT_FOUND, f"image {index} of job {job.job_id} cannot be read: {e}") from e
    return {"job_id": job.job_id, "index": index, "variant": variant, **_image_fields(data, max_side, max_bytes)}


def preview_image(job: Job, message: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    max_side = parse_int(message, "max_side", None, MIN_THUMB_SIDE, MAX_THUMB_SIDE)
    data = job.last_preview_image
    if data is None or job.last_preview is None:
        raise RequestError(
            ErrorCode.NOT_FOUND, f"job {job.job_id} has no preview (it was submitted with previews: false, or none yet)"
        )
    fields = _image_fields(data, max_side, max_bytes)
    return {"job_id": job.job_id, "seq": job.last_preview.get("seq"), "step": job.last_preview.get("step"), **fields}


# A sheet's files (groups/sprite_sheet.py), by `variant`; `preview` takes the `row` too.
GROUP_VARIANTS = {"sheet": "sheet.png", "atlas": "sheet.json", "aseprite": "sheet.aseprite", "preview": None}
GROUP_FORMATS = {".png": "png", ".json": "json", ".aseprite": "aseprite", ".gif": "gif"}


def group_file(group_id: str, folder: Path, message: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """One of a sheet's files, as bytes: the sheet PNG, its atlas (Aseprite's JSON), its .aseprite, a row's GIF."""
    variant = message.get("variant", "sheet")
    if variant not in GROUP_VARIANTS:
        choices = ", ".join(GROUP_VARIANTS)
        raise RequestError(ErrorCode.INVALID_PARAMS, f"a group's 'variant' must be one of: {choices}; got {variant!r}")
    name = GROUP_VARIANTS[variant]
    if name is None:
        row = message.get("row")
        if not isinstance(row, str) or not ROW_NAME.match(row):
            raise RequestError(ErrorCode.INVALID_PARAMS, "variant 'preview' needs 'row': a row's name of the sheet")
        name = f"{row}.gif"
    path = folder / name
    try:
        size = path.stat().st_size
        _check_size(size, max_bytes, f"{name} of group {group_id}")
        data = path.read_bytes()
    except OSError as e:
        raise RequestError(
            ErrorCode.NOT_FOUND, f"group {group_id} has no {name} (not a sheet, not finished, or no such row): {e}"
        ) from e
    return {
        "group_id": group_id,
        "variant": variant,
        "name": name,
        "format": GROUP_FORMATS[path.suffix],
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "image": data,
    }


def _check_size(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise RequestError(ErrorCode.TOO_LARGE, f"{what} is {size} bytes; max_fetch_bytes is {limit}")


def _image_fields(data: bytes, max_side: int | None, max_bytes: int) -> dict[str, Any]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = (image.format or "png").lower()
            width, height = image.size
            if max_side is not None and max(width, height) > max_side:
                image.thumbnail((max_side, max_side))
                out = io.BytesIO()
                image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB").save(out, format="PNG")
                data, kind, (width, height) = out.getvalue(), "png", image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise RequestError(ErrorCode.NOT_FOUND, f"the stored image cannot be decoded: {e}") from e
    _check_size(len(data), max_bytes, "the image")
    return {
        "format": kind,
        "width": width,
        "height": height,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "image": data,
    }
