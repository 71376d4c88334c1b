"""Grid detection and cell colours on synthetic fake pixel art with known answers (pixflow/sprites/grid.py,
cells.py)."""

from __future__ import annotations

import numpy as np
import pytest

from pixflow.sprites.cells import read_cells
from pixflow.sprites.grid import find_grid
from pixflow.sprites.palettes import PALETTES
from pixflow.sprites.synthetic import background_for, fake_pixel_art, make_sprite, reduced_phase

PICO = PALETTES["pico-8"]


def _fake(seed: int, cells: int, scale: float, phase: tuple[float, float], **kw: object) -> tuple:
    rng = np.random.default_rng(seed)
    sprite = make_sprite(rng, cells, PICO, True)
    options = {"blur": 1.0, "noise": 6.0, "jpeg_quality": 85, "background": background_for(PICO)} | kw
    return sprite, fake_pixel_art(sprite, rng, scale=scale, phase=phase, **options)  # type: ignore[arg-type]


def _rgba(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


@pytest.mark.parametrize(
    ("cells", "scale", "phase"),
    [(16, 7.3, (2.0, -3.1)), (24, 11.6, (-5.0, 4.4)), (32, 16.0, (5.3, -2.2)), (48, 6.4, (1.1, 0.7))],
)
def test_the_grid_size_cell_and_phase_are_found(cells: int, scale: float, phase: tuple[float, float]) -> None:
    _, image = _fake(cells, cells, scale, phase)
    grid = find_grid(image)
    assert grid.size == (cells, cells)
    assert grid.detected and grid.source == "detected"
    assert grid.cell_px[0] == pytest.approx(scale, abs=0.25 * scale / cells)  # < a quarter cell over the sprite
    for found, true in zip(grid.origin, phase, strict=True):
        assert abs(found - reduced_phase(true, scale)) < 0.6


def test_a_harmonic_is_not_taken_for_the_cell() -> None:
    """Sharp edges on big cells: the spectrum's peaks at half and a third of the period are nearly as strong."""
    _, image = _fake(3, 16, 19.5, (0.0, 0.0), blur=0.0, noise=2.0, jpeg_quality=None)
    assert find_grid(image).size == (16, 16)


@pytest.mark.parametrize("kind", ["noise", "gradient", "flat"])
def test_no_clear_grid_is_said_and_a_given_size_is_the_fallback(kind: str) -> None:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:256, 0:256]
    image = {
        "noise": rng.integers(0, 256, (256, 256, 3)).astype(np.uint8),
        "gradient": np.stack([x, y, (x + y) // 2], -1).astype(np.uint8),
        "flat": np.full((256, 256, 3), 90, np.uint8),
    }[kind]
    plain = find_grid(image)
    assert not plain.detected and plain.source == "none" and plain.size == (256, 256)
    given = find_grid(image, size=(32, 32))
    assert given.source == "given" and given.size == (32, 32) and given.cell_px == (8.0, 8.0)
    by_px = find_grid(image, cell_px=16)
    assert by_px.size == (16, 16) and by_px.source == "given"


def test_override_uses_the_given_size_as_is_and_fallback_ignores_it_when_a_grid_is_clear() -> None:
    _, image = _fake(5, 32, 10.0, (2.0, 2.0))
    assert find_grid(image, size=(20, 20), given="fallback").size == (32, 32)
    override = find_grid(image, size=(20, 20), given="override")
    assert override.size == (20, 20) and override.source == "given"
    assert find_grid(image, cell_px=10.0, given="override").size == (32, 32)


@pytest.mark.parametrize("method", ["majority", "k-centroid", "median"])
def test_cell_colours_are_read_from_the_interiors(method: str) -> None:
    sprite, image = _fake(7, 24, 9.4, (3.0, -1.0))
    cells = read_cells(_rgba(image), find_grid(image), method)
    colours = np.array(PICO.colors, np.int32)
    nearest = np.argmin(((cells.rgb[..., None, :].astype(np.int32) - colours) ** 2).sum(-1), axis=-1)
    truth = np.argmin(((sprite[..., None, :3].astype(np.int32) - colours) ** 2).sum(-1), axis=-1)
    opaque = sprite[..., 3] > 0
    assert (nearest == truth)[opaque].mean() >= 0.98
    assert cells.opaque.all()  # the source had no alpha


def test_majority_ignores_a_minority_of_outliers_that_the_mean_would_not() -> None:
    image = np.zeros((40, 40, 4), np.uint8)
    image[..., :3], image[..., 3] = (200, 40, 40), 255
    image[14:17, 14:17, :3] = (0, 0, 0)  # a third of one cell's interior samples
    grid = find_grid(image[..., :3], size=(4, 4), given="override")
    assert tuple(read_cells(image, grid, "majority").rgb[1, 1]) == (200, 40, 40)
    assert tuple(read_cells(image, grid, "median").rgb[1, 1]) == (200, 40, 40)


def test_transparent_source_pixels_make_transparent_cells() -> None:
    image = np.zeros((32, 32, 4), np.uint8)
    image[:16, :, 3] = 255
    grid = find_grid(image[..., :3], size=(4, 4), given="override")
    opaque = read_cells(image, grid).opaque
    assert opaque[:2].all() and not opaque[2:].any()
