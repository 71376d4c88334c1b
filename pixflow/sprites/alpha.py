"""Background to hard alpha, on the cell grid (not the source pixels: a cell is the unit a sprite is drawn in,
and the cells' colours are already free of the source's blur and noise).

A generator prompted for a plain background paints it in one colour, give or take noise; the usual cut is a flood
fill from the border within a colour tolerance, so that the same colour inside the sprite (white eyes on a white
background) stays. "key" instead removes every cell of the key colour wherever it is. Alpha is hard: 0 or 255.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pixflow.sprites.colour import oklab

MODES = ("none", "border", "key")
GROUP = 0.02  # OKLab: the least distance within which border cells count as one colour when finding the key


@dataclass(frozen=True)
class Cut:
    opaque: NDArray[np.bool_]  # (rows, columns)
    key: tuple[int, int, int] | None  # the background colour used (None: mode "none")


def cut_background(
    rgb: NDArray[np.uint8],
    opaque: NDArray[np.bool_],
    *,
    mode: str = "border",
    tolerance: float = 8.0,
    key: tuple[int, int, int] | None = None,
) -> Cut:
    """Which cells stay opaque. `tolerance` is the OKLab distance x 100 from the key colour; `key` None: the border
    cells' commonest colour."""
    if mode == "none" or rgb.size == 0:
        return Cut(opaque.copy(), None)
    lab = oklab(rgb)
    limit = tolerance / 100.0
    if key is None:
        key = _commonest_border_colour(rgb, lab, opaque, max(limit, GROUP))
    distance = np.linalg.norm(lab - oklab(np.array(key, dtype=np.uint8)), axis=-1)
    background = (distance <= limit) | ~opaque  # already transparent cells are background the fill goes through
    if mode == "key":
        return Cut(opaque & ~background, key)
    seeds = np.zeros_like(background)
    seeds[[0, -1], :] = True
    seeds[:, [0, -1]] = True
    return Cut(opaque & ~flood(seeds & background, background), key)


def flood(seeds: NDArray[np.bool_], within: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The 4-connected part of `within` that `seeds` reach: whole-array dilations, as many as the longest path
    from the border (a few dozen for a sprite), each a handful of vector operations."""
    region = seeds & within
    while True:
        grown = region.copy()
        grown[1:] |= region[:-1]
        grown[:-1] |= region[1:]
        grown[:, 1:] |= region[:, :-1]
        grown[:, :-1] |= region[:, 1:]
        grown &= within
        if np.array_equal(grown, region):
            return region
        region = grown


def _commonest_border_colour(
    rgb: NDArray[np.uint8], lab: NDArray[np.float32], opaque: NDArray[np.bool_], radius: float
) -> tuple[int, int, int]:
    """The colour most border cells agree with (within `radius`), as their mean."""
    edge = np.zeros(opaque.shape, dtype=bool)
    edge[[0, -1], :] = True
    edge[:, [0, -1]] = True
    edge &= opaque
    if not edge.any():
        edge = opaque.copy()
    if not edge.any():
        return (0, 0, 0)
    colours, labs = rgb[edge].astype(np.float64), lab[edge].astype(np.float64)
    squares = (labs * labs).sum(axis=1)
    agree = squares[:, None] + squares[None, :] - 2 * labs @ labs.T <= radius * radius
    company = agree[int(np.argmax(agree.sum(axis=1)))]
    mean = np.rint(colours[company].mean(axis=0)).astype(int)
    return (int(mean[0]), int(mean[1]), int(mean[2]))
