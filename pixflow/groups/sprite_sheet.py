"""A `sheet` group's files once its jobs have ended: the sheet PNG, its Aseprite JSON atlas and a GIF per row.

Runs on the group book's thread (decoding and encoding a few dozen small PNGs: tens of milliseconds). Each cell
takes the newest job made for it, so a re-rolled frame (`retry`) replaces the one before; a cell whose newest job
has no image stays transparent and is listed as missing. One palette for the whole sheet: the one the sheet was
given (every frame was mapped to it already), or else the palette of the first frame to finish, to which every
other frame's colours are mapped (nearest in OKLab), so that no two frames of a character drift apart.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pixflow.jobs.job import Job
from pixflow.sprites.colour import oklab
from pixflow.sprites.palette import hex_to_rgb
from pixflow.sprites.sheet_files import SHEET_FILE_NAMES, SheetRow, atlas_json, build_sheet
from pixflow.vocabulary import JobState


@dataclass(frozen=True)
class Frame:
    """One cell's newest job, as plain data for the thread."""

    row: str
    frame: int
    job_id: str
    state: str
    image: Path | None  # the job's first sprite
    palette: tuple[str, ...]  # the palette its steps used
    done_at: float | None  # when it finished (ms), for "the first frame to finish"


@dataclass(frozen=True)
class SheetLayout:
    rows: tuple[str, ...]
    frames: int
    cell: tuple[int, int]
    duration_ms: int


def layout_of(jobs: list[Job]) -> SheetLayout | None:
    """The sheet the group's jobs belong to; None for a group that is no sheet (`compare`)."""
    spec = next((job.params.sheet for job in jobs if job.params.sheet), None)
    if spec is None:
        return None
    width, height = spec["cell"]
    return SheetLayout(tuple(spec["rows"]), int(spec["frames"]), (width, height), int(spec["duration_ms"]))


def frames_of(jobs: list[Job]) -> list[Frame]:
    """The newest job of each cell (jobs in the order they were made)."""
    newest: dict[tuple[str, int], Job] = {}
    for job in jobs:
        if job.params.sheet:
            newest[(job.params.sheet["row"], job.params.sheet["frame"])] = job
    frames = []
    for (row, frame), job in newest.items():
        output = job.outputs[0] if job.outputs and job.state == JobState.DONE else None
        image = Path(str(output["path"])) if output else None
        palette = tuple((output or {}).get("palette") or ())
        done_at = job.state_times.get(JobState.DONE.value) if output else None
        frames.append(Frame(row, frame, job.job_id, job.state, image, palette, done_at))
    return frames


def _locked_palette(frames: list[Frame]) -> tuple[str, ...]:
    finished = sorted((f for f in frames if f.image is not None and f.palette), key=lambda f: f.done_at or 0.0)
    return finished[0].palette if finished else ()


def _to_palette(data: bytes, palette: tuple[str, ...]) -> bytes:
    """The frame's opaque colours mapped to the nearest of the palette's (OKLab); alpha kept."""
    colours = np.array([hex_to_rgb(colour) for colour in palette], dtype=np.uint8)
    with Image.open(io.BytesIO(data)) as image:
        pixels = np.array(image.convert("RGBA"))
    opaque = pixels[..., 3] > 0
    found, inverse = np.unique(pixels[opaque][:, :3], axis=0, return_inverse=True)
    if not len(found):
        return data
    distance = ((oklab(found)[:, None, :] - oklab(colours)[None, :, :]) ** 2).sum(axis=-1)
    pixels[opaque, :3] = colours[distance.argmin(axis=1)][inverse.reshape(-1)]
    out = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(out, format="PNG")
    return out.getvalue()


def _write(folder: Path, name: str, data: bytes) -> str:
    path, partial = folder / name, folder / f".{name}.partial"
    partial.write_bytes(data)
    os.replace(partial, path)
    return str(path)


def write_sprite_sheet(layout: SheetLayout, frames: list[Frame], folder: Path) -> dict[str, Any]:
    """Write the sheet's files into `folder`; what the `group` reply and `group.done` say of them."""
    palette = _locked_palette(frames)
    by_cell = {(f.row, f.frame): f for f in frames}
    rows = []
    for row in layout.rows:
        cells: list[bytes | None] = []
        for index in range(layout.frames):
            frame = by_cell.get((row, index))
            if frame is None or frame.image is None:
                cells.append(None)
                continue
            data = frame.image.read_bytes()
            cells.append(_to_palette(data, palette) if palette and frame.palette != palette else data)
        rows.append(SheetRow(row, tuple(cells)))
    files = build_sheet(rows, layout.cell, image_name=SHEET_FILE_NAMES["sheet_png"], duration_ms=layout.duration_ms)
    folder.mkdir(parents=True, exist_ok=True)
    written = {
        "sheet": _write(folder, SHEET_FILE_NAMES["sheet_png"], files.sheet_png),
        "atlas": _write(folder, SHEET_FILE_NAMES["atlas"], atlas_json(files.atlas)),
        "previews": {
            row: _write(folder, SHEET_FILE_NAMES["previews"].format(row=row), gif)
            for row, gif in files.previews.items()
        },
        "aseprite": _write(folder, SHEET_FILE_NAMES["aseprite"], files.aseprite) if files.aseprite else None,
    }
    missing = [
        {"row": row, "frame": index, "job_id": cell.job_id if cell else None, "state": cell.state if cell else None}
        for row, index in files.missing
        for cell in [by_cell.get((row, index))]
    ]
    width, height = layout.cell
    return {**written, "cell": [width, height], "palette": list(palette), "missing": missing}
