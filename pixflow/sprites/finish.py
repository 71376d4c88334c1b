"""Finishing: a one-cell outline, the trim to the sprite's bounding box and the placement in a fixed cell.

The canvas grows by one cell on each side before the outline, so that an outline never clips at the edge of the
source. Placement: centred, or "bottom" (centred horizontally, feet on the bottom row), which keeps characters of
different heights standing on one line in a sheet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pixflow.errors import SpriteError

ANCHORS = ("center", "bottom")


@dataclass(frozen=True)
class Placed:
    rgba: NDArray[np.uint8]
    offset: tuple[int, int]  # where the trimmed sprite's top-left sits in the cell
    trimmed: tuple[int, int]  # the trimmed sprite's width, height


def outline(rgba: NDArray[np.uint8], colour: tuple[int, int, int]) -> NDArray[np.uint8]:
    """Every transparent cell 4-adjacent to an opaque one gets `colour`; the canvas grows by 1 on each side."""
    rows, columns = rgba.shape[:2]
    grown = np.zeros((rows + 2, columns + 2, 4), dtype=np.uint8)
    grown[1:-1, 1:-1] = rgba
    solid = grown[..., 3] > 0
    near = np.zeros_like(solid)
    near[1:] |= solid[:-1]
    near[:-1] |= solid[1:]
    near[:, 1:] |= solid[:, :-1]
    near[:, :-1] |= solid[:, 1:]
    ring = near & ~solid
    grown[ring] = (*colour, 255)
    return grown


def trim(rgba: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The opaque bounding box (the whole image when nothing is opaque)."""
    ys, xs = np.nonzero(rgba[..., 3])
    if len(ys) == 0:
        return rgba
    return rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def place(rgba: NDArray[np.uint8], size: tuple[int, int] | None, anchor: str = "center") -> Placed:
    """The sprite in a transparent width x height cell (None: as it is); SpriteError("does_not_fit") when larger."""
    height, width = rgba.shape[:2]
    if size is None:
        return Placed(rgba, (0, 0), (width, height))
    cell_w, cell_h = size
    if width > cell_w or height > cell_h:
        raise SpriteError("does_not_fit", f"the sprite is {width}x{height}, the cell {cell_w}x{cell_h}")
    x = (cell_w - width) // 2
    y = cell_h - height if anchor == "bottom" else (cell_h - height) // 2
    out = np.zeros((cell_h, cell_w, 4), dtype=np.uint8)
    out[y : y + height, x : x + width] = rgba
    return Placed(out, (x, y), (width, height))
