"""Colours to a palette: adaptive palettes by k-means, nearest-colour mapping and ordered dithering, all in OKLab.

k-means starts from maximin seeds (the heaviest colour, then again and again the colour farthest from every seed
so far, isolated colours discounted) instead of random ones: the same sprite gets the same palette on every run
and machine, and each well-separated colour region gets its own seed, so a small region (eyes) is not merged into
a big one. Colours that appear exactly are counted once with their weight, which keeps an already clean sprite
cheap and exact.

Ordered dithering uses the 4 x 4 Bayer matrix between a colour's two nearest palette colours: the threshold at a
cell picks the second colour when the colour lies further than the threshold along the way from the first to it.
A palette colour itself never dithers; pixel-art ordered dither is a tidy repeating pattern, unlike error
diffusion's noise.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from pixflow.sprites.colour import oklab, srgb

BAYER = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]], dtype=np.float32)
THRESHOLDS = (BAYER + 0.5) / 16  # in (0, 1): a colour halfway between two picks the second at half the cells
ISOLATED = 0.03  # OKLab: a colour with no other this close is discounted as a seed (a stray cell)
ITERATIONS = 12
TRUSTED = 3.0  # the weight near a colour (its own included) from which it is a full seed candidate


def distinct(rgb: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """The distinct colours of (N, 3) bytes, and how often each appears."""
    packed = (rgb[:, 0].astype(np.int64) << 16) | (rgb[:, 1].astype(np.int64) << 8) | rgb[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    colours = np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=1).astype(np.uint8)
    return colours, counts.astype(np.int64)


def kmeans_palette(rgb: NDArray[np.uint8], k: int) -> NDArray[np.uint8]:
    """At most `k` colours summing up (N, 3) bytes: the distinct ones if there are no more, else k-means centres."""
    colours, counts = distinct(rgb)
    if len(colours) <= k:
        return colours
    lab = oklab(colours).astype(np.float64)
    weights = counts.astype(np.float64)
    centres = _maximin(lab, weights, k)
    for _ in range(ITERATIONS):
        nearest = _nearest(lab, centres)
        sums = np.zeros_like(centres)
        np.add.at(sums, nearest, lab * weights[:, None])
        totals = np.bincount(nearest, weights=weights, minlength=len(centres))
        moved = np.where(totals[:, None] > 0, sums / np.maximum(totals, 1e-12)[:, None], centres)
        if np.allclose(moved, centres, atol=1e-6):
            break
        centres = moved
    # Each colour as its members' median, not their mean: cells on a region's edge, tinted by blur and JPEG's
    # halved chroma, pull a mean off the colour the region was drawn in.
    nearest = _nearest(lab, centres)
    medians = [np.median(lab[nearest == i], axis=0) for i in range(len(centres)) if (nearest == i).any()]
    out, _ = distinct(srgb(np.array(medians)))
    return out


def _maximin(lab: NDArray[np.float64], weights: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    squares = (lab * lab).sum(axis=1)
    # Company: how much weight lies near each colour; a stray colour has only its own.
    company = weights
    if len(lab) <= 4096:
        company = ((squares[:, None] + squares[None, :] - 2 * lab @ lab.T) <= ISOLATED * ISOLATED) @ weights
    trust = np.minimum(company / TRUSTED, 1.0)
    chosen = [int(np.argmax(company))]
    distance = np.linalg.norm(lab - lab[chosen[0]], axis=1)
    while len(chosen) < k:
        score = distance * trust
        pick = int(np.argmax(score))
        if score[pick] <= 0:
            break
        chosen.append(pick)
        distance = np.minimum(distance, np.linalg.norm(lab - lab[pick], axis=1))
    return lab[chosen].copy()


def _nearest(lab: NDArray[np.float64], centres: NDArray[np.float64]) -> NDArray[np.intp]:
    d = (lab * lab).sum(axis=1)[:, None] + (centres * centres).sum(axis=1)[None, :] - 2 * lab @ centres.T
    result: NDArray[np.intp] = np.argmin(d, axis=1)
    return result


def map_to_palette(rgb: NDArray[np.uint8], palette: NDArray[np.uint8]) -> NDArray[np.intp]:
    """The index of the nearest palette colour (OKLab) of each colour of (..., 3) bytes."""
    flat = oklab(rgb.reshape(-1, 3)).astype(np.float64)
    return _nearest(flat, oklab(palette).astype(np.float64)).reshape(rgb.shape[:-1])


def dither_to_palette(rgb: NDArray[np.uint8], palette: NDArray[np.uint8]) -> NDArray[np.intp]:
    """Ordered (4 x 4 Bayer) dithering of an (rows, columns, 3) image of cells: per cell the index of the first or
    second nearest palette colour."""
    rows, columns = rgb.shape[:2]
    lab = oklab(rgb.reshape(-1, 3)).astype(np.float64)
    pal = oklab(palette).astype(np.float64)
    if len(pal) < 2:
        return np.zeros((rows, columns), dtype=np.intp)
    d = (lab * lab).sum(axis=1)[:, None] + (pal * pal).sum(axis=1)[None, :] - 2 * lab @ pal.T
    order = np.argsort(d, axis=1)[:, :2]
    first, second = pal[order[:, 0]], pal[order[:, 1]]
    span = second - first
    along = ((lab - first) * span).sum(axis=1) / np.maximum((span * span).sum(axis=1), 1e-12)
    along = np.clip(along, 0.0, 1.0)
    threshold = np.tile(THRESHOLDS, (rows // 4 + 1, columns // 4 + 1))[:rows, :columns].reshape(-1)
    picked = np.where(along > threshold, order[:, 1], order[:, 0])
    result: NDArray[np.intp] = picked.reshape(rows, columns)
    return result
