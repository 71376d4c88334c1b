"""Known sprites and the "fake pixel art" a diffusion model would draw of them: the ground truth that the tests, the
bench (bench/) and the docs' example measure the sprite steps against.

`make_sprite` draws a random but sprite-like sprite: a blobby, left-right symmetric shape (one piece, no holes, a
transparent margin of at least one cell) in a few colour regions, plus a pair of one-cell details (eyes), because
a one-cell feature is what a poor grid or cell estimate loses first. `fake_pixel_art` makes of it what a generator
makes: blocks of `scale` screen pixels (non-integer, so blocks are 6 or 7 pixels wide, never aligned to anything),
offset by a phase, then softened (Gaussian blur), noised and JPEG-compressed, with the transparent cells painted in
a plain background colour, as a generator prompted for a plain background paints them.

The grid of a fake image: cell `i` of the sprite spans pixels [phase + i * scale, phase + (i + 1) * scale) on each
axis, with the phase reduced into [-scale / 2, scale / 2) (`reduced_phase`), and the image is round(cells * scale)
pixels a side; the slivers outside the sprite's cells repeat the edge cells (background, as a sprite's edge is).
"""

from __future__ import annotations

import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixflow.sprites.alpha import flood
from pixflow.sprites.colour import oklab
from pixflow.sprites.palette import RGB, Palette

Pixels = NDArray[np.uint8]

# Plain backgrounds a prompt asks for; `background_for` takes the one farthest from a palette's colours.
BACKGROUNDS: tuple[RGB, ...] = ((255, 0, 255), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 255, 255), (128, 0, 128))


def make_sprite(rng: np.random.Generator, cells: int, palette: Palette, transparent: bool) -> Pixels:
    """A (cells, cells, 4) RGBA sprite, alpha 0 or 255, its colours from `palette`: all of them when it has at most
    eight (so that an adaptive palette of that many colours can be checked against it), else four to seven."""
    if cells < 6:
        raise ValueError("a sprite needs at least 6 cells a side")
    colours = np.array(palette.colors, dtype=np.uint8)
    chosen = colours if len(colours) <= 8 else colours[rng.choice(len(colours), int(rng.integers(4, 8)), False)]
    background, body_colours = (None, chosen) if transparent else (chosen[0], chosen[1:])
    if len(body_colours) == 0:
        body_colours = chosen
    body = _blob(rng, cells)
    field = _smooth_field(rng, cells) + rng.normal(0, 1e-3, (cells, cells))
    field = (field + field[:, ::-1]) / 2  # symmetric colour regions, as a front-facing character has
    levels = np.quantile(field[body], np.linspace(0, 1, len(body_colours) + 1)[1:-1])
    index = np.searchsorted(levels, field)
    sprite = np.zeros((cells, cells, 4), dtype=np.uint8)
    sprite[..., :3] = body_colours[index]
    sprite[..., 3] = 255
    ys, xs = np.nonzero(body[:, : cells // 2] & _interior(body)[:, : cells // 2])
    if len(ys):  # a pair of eyes: one-cell details in a colour of their own where the body has room
        pick = int(rng.integers(len(ys)))
        sprite[ys[pick], [xs[pick], cells - 1 - xs[pick]], :3] = body_colours[int(rng.integers(len(body_colours)))]
    if background is None:
        sprite[~body] = 0
    else:
        sprite[~body, :3] = background
    return sprite


def fake_pixel_art(
    sprite: Pixels,
    rng: np.random.Generator,
    *,
    scale: float,
    phase: tuple[float, float],
    blur: float,
    noise: float,
    jpeg_quality: int | None,
    background: tuple[int, int, int],
) -> Pixels:
    """The (H, W, 3) image of `sprite` at `scale` screen pixels a cell, nearest-neighbour, offset by `phase` (x, y),
    blurred by a Gaussian of `blur` pixels, noised by Gaussian noise of std `noise` (0-255 units) and passed through
    JPEG at `jpeg_quality` (None: not)."""
    rows, cols = sprite.shape[:2]
    flat = np.where(sprite[..., 3:] >= 128, sprite[..., :3], np.array(background, dtype=np.uint8))
    padded = np.pad(flat, ((1, 1), (1, 1), (0, 0)), mode="edge")  # the slivers beyond the cells: their neighbours'
    px, py = (reduced_phase(p, scale) for p in phase)
    ys = np.floor((np.arange(round(rows * scale)) + 0.5 - py) / scale).astype(np.intp)
    xs = np.floor((np.arange(round(cols * scale)) + 0.5 - px) / scale).astype(np.intp)
    image = padded[np.clip(ys + 1, 0, rows + 1)][:, np.clip(xs + 1, 0, cols + 1)].astype(np.float32)
    if blur > 0:
        image = _gaussian(image, blur)
    if noise > 0:
        image = image + rng.normal(0.0, noise, image.shape).astype(np.float32)
    out = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if jpeg_quality is not None:
        buffer = io.BytesIO()
        Image.fromarray(out, "RGB").save(buffer, "JPEG", quality=jpeg_quality)
        out = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")).copy()
    return out


def reduced_phase(phase: float, scale: float) -> float:
    """The phase as the grid's origin: the cell boundary nearest to pixel 0, in [-scale / 2, scale / 2)."""
    return float((phase + scale / 2) % scale - scale / 2)


def random_palette(rng: np.random.Generator, count: int, *, apart: float = 0.15) -> Palette:
    """`count` random colours at least `apart` from each other in OKLab: a sprite for the adaptive palette's test,
    whose colours k-means must find again."""
    colours: list[RGB] = []
    while len(colours) < count:
        candidate = tuple(int(v) for v in rng.integers(0, 256, 3))
        lab = oklab(np.array(candidate, dtype=np.uint8))
        if all(np.linalg.norm(lab - oklab(np.array(c, dtype=np.uint8))) >= apart for c in colours):
            colours.append((candidate[0], candidate[1], candidate[2]))
    return Palette("random", tuple(colours))


def background_for(palette: Palette) -> RGB:
    """Of BACKGROUNDS, the one farthest (in OKLab) from every colour of `palette`: a background the alpha step can
    tell from the sprite, as a user picks one that the sprite does not use."""
    labs = oklab(np.array(palette.colors, dtype=np.uint8))
    distances = [float(np.min(np.linalg.norm(labs - oklab(np.array(b, dtype=np.uint8)), axis=1))) for b in BACKGROUNDS]
    return BACKGROUNDS[int(np.argmax(distances))]


def nearest_exact(image: Pixels, cells: tuple[int, int]) -> Pixels:
    """The naive baseline: one sample per cell at its top-left corner, as ComfyUI's ImageScale (nearest) downscales
    an image to (columns, rows) cells."""
    height, width = image.shape[:2]
    ys = (np.arange(cells[1]) * height) // cells[1]
    xs = (np.arange(cells[0]) * width) // cells[0]
    picked: Pixels = image[ys][:, xs].copy()
    return picked


def _blob(rng: np.random.Generator, cells: int) -> NDArray[np.bool_]:
    """A symmetric blob: a smooth random field plus a bump at the centre, thresholded; the largest piece, holes
    filled (a hole would be background the border flood fill cannot reach), one cell of margin all round."""
    y, x = np.mgrid[0:cells, 0:cells] / (cells - 1) * 2 - 1
    field = _smooth_field(rng, cells) * 0.8 + (1 - (x**2 + y**2 * 0.8)) * 1.2
    field = (field + field[:, ::-1]) / 2
    margin = np.zeros((cells, cells), dtype=bool)
    margin[1:-1, 1:-1] = True
    body = (field > np.quantile(field[margin], 0.55)) & margin
    return _fill_holes(_largest_piece(body))


def _smooth_field(rng: np.random.Generator, cells: int) -> NDArray[np.float64]:
    """Random values on a coarse lattice, bilinearly interpolated: regions a few cells across."""
    coarse = rng.normal(0, 1, (cells // 5 + 2, cells // 5 + 2))
    t = np.linspace(0, coarse.shape[0] - 1.001, cells)
    i = t.astype(int)
    f = t - i
    rows = coarse[i] * (1 - f)[:, None] + coarse[i + 1] * f[:, None]
    result: NDArray[np.float64] = rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]
    return result


def _interior(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return inner


def _largest_piece(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    best = np.zeros_like(mask)
    left = mask.copy()
    while left.any():
        seed = np.zeros_like(mask)
        seed[tuple(np.argwhere(left)[0])] = True
        piece = flood(seed, left)
        left &= ~piece
        if piece.sum() > best.sum():
            best = piece
    return best


def _fill_holes(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    border = np.zeros_like(mask)
    border[[0, -1], :] = True
    border[:, [0, -1]] = True
    outside = flood(border, ~mask)
    return ~outside


def _gaussian(image: NDArray[np.float32], sigma: float) -> NDArray[np.float32]:
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).astype(np.float32)
    taps /= taps.sum()
    for axis in (0, 1):
        pad = [(0, 0)] * image.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(image, pad, mode="edge")
        length = image.shape[axis]
        image = sum(
            (taps[k] * np.take(padded, np.arange(k, k + length), axis=axis) for k in range(len(taps))),
            np.zeros_like(image),
        )
    return image
