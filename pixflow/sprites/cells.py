"""One colour per cell of the grid, read from the cell's interior.

The outer quarter of a cell on each side is skipped: blur and JPEG spread a neighbour's colour a few pixels in,
and the grid itself may be a pixel off at the far side of a big sprite. Inside, up to 4 x 4 samples on a lattice
are enough (more costs time and adds nothing once noise is averaged over a dozen). Three ways to pick the colour:

- majority: the colour most samples agree with. Each sample counts the samples within AGREE of it in OKLab; the
  one with most company wins and the cell is the mean of its company. A vote over fixed colour buckets would
  split one noisy colour across bucket borders; this vote has no borders.
- k-centroid: two means within the cell (started from the two samples farthest apart), the bigger cluster's mean:
  the pixel-art communities' "k-centroid" downscale.
- median: the per-channel median.

All are vectorised over every cell at once: a Python loop over 1,000+ cells would cost more than the whole budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pixflow.sprites.colour import oklab
from pixflow.sprites.grid import Grid

METHODS = ("majority", "k-centroid", "median")
AGREE = 0.08  # OKLab distance within which two samples are one colour: noise std 8 spreads a colour ~0.03
MAX_SAMPLES = 4  # per axis and cell
INTERIOR = (0.25, 0.75)  # the part of a cell that is sampled


@dataclass(frozen=True)
class Cells:
    rgb: NDArray[np.uint8]  # (rows, columns, 3)
    opaque: NDArray[np.bool_]  # (rows, columns): the source's own alpha, by majority of the samples


def read_cells(rgba: NDArray[np.uint8], grid: Grid, method: str = "majority") -> Cells:
    """The cells' colours of an (H, W, 4) image on `grid`."""
    samples = _samples(rgba, grid)  # (rows, columns, count, 4)
    rows, columns, count = samples.shape[:3]
    colours = samples[..., :3].reshape(-1, count, 3)
    opaque = (samples[..., 3] >= 128).mean(axis=2) >= 0.5
    if count == 1:
        picked = colours[:, 0].astype(np.float32)
    elif method == "median":
        picked = np.median(colours, axis=1).astype(np.float32)
    elif method == "k-centroid":
        picked = _k_centroid(colours)
    else:
        picked = _majority(colours)
    rgb = np.clip(np.rint(picked), 0, 255).astype(np.uint8).reshape(rows, columns, 3)
    return Cells(rgb, opaque)


def _samples(rgba: NDArray[np.uint8], grid: Grid) -> NDArray[np.uint8]:
    height, width = rgba.shape[:2]
    axes = []
    for count, period, origin, limit in (
        (grid.size[1], grid.cell_px[1], grid.origin[1], height),
        (grid.size[0], grid.cell_px[0], grid.origin[0], width),
    ):
        per_cell = int(np.clip(round(period * (INTERIOR[1] - INTERIOR[0])), 1, MAX_SAMPLES))
        fractions = INTERIOR[0] + (INTERIOR[1] - INTERIOR[0]) * (np.arange(per_cell) + 0.5) / per_cell
        if period <= 1.0:
            fractions = np.array([0.5])
        positions = origin + period * (np.arange(count)[:, None] + fractions[None, :])
        axes.append(np.clip(np.floor(positions).astype(np.intp), 0, limit - 1))
    ys, xs = axes
    picked = rgba[ys[:, None, :, None], xs[None, :, None, :]]  # (rows, columns, sy, sx, 4)
    return picked.reshape(picked.shape[0], picked.shape[1], -1, 4)


def _majority(colours: NDArray[np.uint8]) -> NDArray[np.float32]:
    lab = oklab(colours)  # (cells, count, 3)
    squares = (lab * lab).sum(axis=2)
    distances = squares[:, :, None] + squares[:, None, :] - 2 * np.matmul(lab, lab.transpose(0, 2, 1))
    agree = distances <= AGREE * AGREE
    winner = np.argmax(agree.sum(axis=2), axis=1)
    company = agree[np.arange(len(colours)), winner].astype(np.float32)  # (cells, count)
    sums = np.matmul(company[:, None, :], colours.astype(np.float32))[:, 0]
    result: NDArray[np.float32] = sums / company.sum(axis=1, keepdims=True)
    return result


def _k_centroid(colours: NDArray[np.uint8], iterations: int = 4) -> NDArray[np.float32]:
    lab = oklab(colours)
    cells = np.arange(len(colours))
    mean = lab.mean(axis=1, keepdims=True)
    first = np.argmax(((lab - mean) ** 2).sum(axis=2), axis=1)
    a = lab[cells, first]
    second = np.argmax(((lab - a[:, None]) ** 2).sum(axis=2), axis=1)
    b = lab[cells, second]
    for _ in range(iterations):
        nearer_a = ((lab - a[:, None]) ** 2).sum(axis=2) <= ((lab - b[:, None]) ** 2).sum(axis=2)
        count_a = nearer_a.sum(axis=1, keepdims=True)
        count_b = (~nearer_a).sum(axis=1, keepdims=True)
        a = np.where(count_a > 0, (lab * nearer_a[..., None]).sum(axis=1) / np.maximum(count_a, 1), a)
        b = np.where(count_b > 0, (lab * ~nearer_a[..., None]).sum(axis=1) / np.maximum(count_b, 1), b)
    nearer_a = ((lab - a[:, None]) ** 2).sum(axis=2) <= ((lab - b[:, None]) ** 2).sum(axis=2)
    members = np.where((nearer_a.sum(axis=1) * 2 >= colours.shape[1])[:, None], nearer_a, ~nearer_a)
    result: NDArray[np.float32] = (members[:, :, None] * colours).sum(axis=1) / members.sum(axis=1, keepdims=True)
    return result.astype(np.float32)
