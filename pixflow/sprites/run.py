"""Running a pipeline on one image: decode, the steps in order, encode. Pure: no I/O but decoding and encoding.

Each step leaves a record of what it was given and what it found (the grid's size and phase, the background
colour, the palette), because a sprite that came out wrong is diagnosed from those numbers, not from the PNG.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixflow.errors import SpriteError
from pixflow.sprites.alpha import cut_background
from pixflow.sprites.cells import read_cells
from pixflow.sprites.colour import hex_colour, oklab
from pixflow.sprites.finish import outline, place, trim
from pixflow.sprites.grid import find_grid
from pixflow.sprites.palette import Palette, hex_to_rgb, parse_hex_list, parse_palette_text
from pixflow.sprites.palettes import PALETTES, decode_image, palette_from_image
from pixflow.sprites.quantise import distinct, dither_to_palette, kmeans_palette, map_to_palette
from pixflow.sprites.steps import Pipeline, parse_size


@dataclass(frozen=True)
class Result:
    png: bytes  # the sprite, RGBA PNG, alpha only 0 or 255 (b"" from run_on_array)
    width: int
    height: int
    palette: tuple[str, ...]  # the palette applied; without one, the sprite's distinct colours if <= 256
    records: tuple[dict[str, Any], ...]  # per step run: {"step", "params", "found", "ms"}


def run_pipeline(pipeline: Pipeline, image: bytes, *, images: Mapping[str, bytes] | None = None) -> Result:
    """The sprite of `image` (any format Pillow reads); `images` are named images a step may use ("image:NAME")."""
    rgba, result = run_on_array(pipeline, decode_image(image), images=images)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG", compress_level=6)
    return replace(result, png=buffer.getvalue())


def run_on_array(
    pipeline: Pipeline, rgba: NDArray[np.uint8], *, images: Mapping[str, bytes] | None = None
) -> tuple[NDArray[np.uint8], Result]:
    """run_pipeline on decoded (H, W, 4) RGBA bytes: the sprite as an array, and its Result without the PNG."""
    params = {step.name: step.params for step in pipeline.steps}
    records: list[dict[str, Any]] = []
    clock = time.perf_counter()

    def record(step: str, found: dict[str, Any]) -> None:
        nonlocal clock
        now = time.perf_counter()
        records.append({"step": step, "params": dict(params[step]), "found": found, "ms": (now - clock) * 1000})
        clock = now

    if "grid" in params:
        p = params["grid"]
        grid = find_grid(rgba[..., :3], size=parse_size(p["size"]), cell_px=float(p["cell_px"]), given=p["given"])
        cells = read_cells(rgba, grid, p["method"])
        rgb, opaque = cells.rgb, cells.opaque
        record("grid", {
            "size": list(grid.size), "cell_px": [round(v, 3) for v in grid.cell_px],
            "phase": [round(v, 3) for v in grid.origin], "detected": grid.detected, "source": grid.source,
            "confidence": round(grid.confidence, 3),
        })  # fmt: skip
    else:
        rgb, opaque = rgba[..., :3].copy(), rgba[..., 3] >= 128
    if "alpha" in params:
        p = params["alpha"]
        key = None if p["key"] == "auto" else hex_to_rgb(p["key"])
        cut = cut_background(rgb, opaque, mode=p["mode"], tolerance=float(p["tolerance"]), key=key)
        record("alpha", {
            "transparent_cells": int((~cut.opaque).sum()), "key": None if cut.key is None else hex_colour(cut.key),
        })  # fmt: skip
        opaque = cut.opaque
    palette: Palette | None = None
    if "palette" in params:
        p = params["palette"]
        palette = _palette(p["palette"], int(p["colors"]), rgb[opaque], images or {})
        if palette is not None and opaque.any():
            colours = np.array(palette.colors, dtype=np.uint8)
            index = dither_to_palette(rgb, colours) if p["dither"] == "ordered" else map_to_palette(rgb, colours)
            rgb = np.where(opaque[..., None], colours[index], rgb)
        record("palette", {"name": "none" if palette is None else palette.name,
                           "colors": 0 if palette is None else len(palette.colors)})  # fmt: skip
    sprite = np.zeros((*rgb.shape[:2], 4), dtype=np.uint8)
    sprite[..., :3] = np.where(opaque[..., None], rgb, 0)
    sprite[..., 3] = np.where(opaque, 255, 0)
    if "outline" in params:
        p = params["outline"]
        colour = _outline_colour(p["colour"], palette, rgb[opaque])
        if p["enabled"]:
            sprite = outline(sprite, colour)
        record("outline", {"enabled": bool(p["enabled"]), "colour": hex_colour(colour)})
    if "cell" in params:
        p = params["cell"]
        trimmed = trim(sprite) if p["trim"] else sprite
        placed = place(trimmed, parse_size(p["size"]), p["anchor"])
        sprite = placed.rgba
        record("cell", {"size": [sprite.shape[1], sprite.shape[0]], "offset": list(placed.offset),
                        "trimmed": list(placed.trimmed)})  # fmt: skip
    if palette is not None:
        shown = palette.hex()
    else:
        found, _ = distinct(sprite[sprite[..., 3] > 0][:, :3])
        shown = tuple(hex_colour(c) for c in found) if len(found) <= 256 else ()
    height, width = sprite.shape[:2]
    return sprite, Result(b"", width, height, shown, tuple(records))


def _palette(value: str, colors: int, opaque_rgb: NDArray[np.uint8], images: Mapping[str, bytes]) -> Palette | None:
    """The palette a `palette.palette` value names (None: "none")."""
    if value == "none":
        return None
    if value == "adaptive":
        found = kmeans_palette(opaque_rgb, colors) if len(opaque_rgb) else np.zeros((0, 3), dtype=np.uint8)
        return Palette("adaptive", tuple((int(r), int(g), int(b)) for r, g, b in found)) if len(found) else None
    if value in PALETTES:
        return PALETTES[value]
    if value.startswith("image:") and "\n" not in value:
        name = value[len("image:") :]
        if name not in images:
            known = ", ".join(sorted(images)) or "none"
            raise SpriteError("invalid_param", f"palette.palette: {value!r} names no image passed (passed: {known})")
        return palette_from_image(images[name], colors)
    if "\n" in value:
        return parse_palette_text(value)
    return parse_hex_list(value)


def _outline_colour(value: str, palette: Palette | None, opaque_rgb: NDArray[np.uint8]) -> tuple[int, int, int]:
    """ "#rrggbb" as given; "darkest": the palette's darkest colour (OKLab L), else the sprite's, else black."""
    if value != "darkest":
        return hex_to_rgb(value) or (0, 0, 0)
    if palette is not None:
        colours = np.array(palette.colors, dtype=np.uint8)
    elif len(opaque_rgb):
        colours, _ = distinct(opaque_rgb)
    else:
        return (0, 0, 0)
    darkest = colours[int(np.argmin(oklab(colours)[:, 0]))]
    return (int(darkest[0]), int(darkest[1]), int(darkest[2]))
