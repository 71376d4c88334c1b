"""The contact sheet: a group's first images in a grid, one row per model, one column per seed, each labelled.

Runs on a thread of its own (Pillow decodes and scales every image): only plain data comes in, a file goes out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

CELL = 256  # each image is scaled to fit a CELL x CELL square
LABEL_HEIGHT = 28  # the band under each image: "seed N | model"
GAP = 8
BACKGROUND = (24, 24, 24)
EMPTY_CELL = (64, 64, 64)  # a job that ended without an image
TEXT = (230, 230, 230)
SHEET_NAME = "contact_sheet.png"


@dataclass(frozen=True)
class Cell:
    model: str  # as shown: the checkpoint, or "default" for the workflow's own
    seed: int
    state: str  # the job's final state, written in the cell when it has no image
    image: Path | None  # the job's first output image, if it has one


def grid_shape(cells: list[Cell]) -> tuple[int, int]:
    """(rows, columns): one row per distinct model, one column per distinct seed."""
    return len(dict.fromkeys(c.model for c in cells)), len(dict.fromkeys(c.seed for c in cells))


def sheet_size(rows: int, columns: int) -> tuple[int, int]:
    """The sheet's (width, height) in pixels for a grid of rows x columns."""
    return GAP + columns * (CELL + GAP), GAP + rows * (CELL + LABEL_HEIGHT + GAP)


def _fit(text: str, draw: ImageDraw.ImageDraw, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> str:
    """Shorten `text` with an ellipsis until it fits the cell's width."""
    if draw.textlength(text, font=font) <= CELL:
        return text
    while text and draw.textlength(text + "...", font=font) > CELL:
        text = text[:-1]
    return text + "..."


def _paste_image(sheet: Image.Image, path: Path, x: int, y: int) -> bool:
    try:
        with Image.open(path) as image:
            image.thumbnail((CELL, CELL))
            thumb = image.convert("RGB")
        scale = CELL // max(thumb.width, thumb.height)
        if scale >= 2:  # small images (pixel art, tests) grow by whole pixels, so they stay sharp
            thumb = thumb.resize((thumb.width * scale, thumb.height * scale), Image.Resampling.NEAREST)
    except (OSError, ValueError):  # gone or unreadable since it was saved: an empty, labelled cell
        return False
    sheet.paste(thumb, (x + (CELL - thumb.width) // 2, y + (CELL - thumb.height) // 2))
    return True


def render_sheet(cells: list[Cell], path: Path) -> Path:
    """Write the sheet to `path` (atomically: a reader sees the whole PNG or none) and return it."""
    models = list(dict.fromkeys(c.model for c in cells))
    seeds = list(dict.fromkeys(c.seed for c in cells))
    sheet = Image.new("RGB", sheet_size(len(models), len(seeds)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    for cell in cells:
        x = GAP + seeds.index(cell.seed) * (CELL + GAP)
        y = GAP + models.index(cell.model) * (CELL + LABEL_HEIGHT + GAP)
        if cell.image is None or not _paste_image(sheet, cell.image, x, y):
            draw.rectangle((x, y, x + CELL - 1, y + CELL - 1), fill=EMPTY_CELL)
            draw.text((x + CELL // 2, y + CELL // 2), cell.state, fill=TEXT, font=font, anchor="mm")
        label = _fit(f"seed {cell.seed} | {cell.model}", draw, font)  # the seed first: never cut
        draw.text((x, y + CELL + LABEL_HEIGHT // 2), label, fill=TEXT, font=font, anchor="lm")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    sheet.save(partial, format="PNG")
    os.replace(partial, path)
    return path
