"""Background to alpha on the cell grid, outline, trim and placement (pixflow/sprites/alpha.py, finish.py)."""

from __future__ import annotations

import numpy as np
import pytest

from pixflow.errors import SpriteError
from pixflow.sprites.alpha import cut_background
from pixflow.sprites.finish import outline, place, trim

BG, BODY, HOLE = (255, 0, 255), (40, 90, 200), (250, 5, 250)


def _ring() -> tuple[np.ndarray, np.ndarray]:
    """A 9x9 grid: a magenta background, a blue ring, a magenta-ish hole inside it."""
    rgb = np.zeros((9, 9, 3), np.uint8)
    rgb[:] = BG
    rgb[2:7, 2:7] = BODY
    rgb[4, 4] = HOLE
    return rgb, np.ones((9, 9), bool)


def test_border_flood_fill_keeps_an_enclosed_background_colour() -> None:
    rgb, opaque = _ring()
    cut = cut_background(rgb, opaque, mode="border")
    assert cut.key == BG
    assert cut.opaque[4, 4]  # enclosed: the fill cannot reach it
    assert cut.opaque[2:7, 2:7].all() and cut.opaque.sum() == 25


def test_key_mode_removes_the_colour_everywhere_and_none_keeps_all() -> None:
    rgb, opaque = _ring()
    assert cut_background(rgb, opaque, mode="key").opaque.sum() == 24
    none = cut_background(rgb, opaque, mode="none")
    assert none.opaque.all() and none.key is None


def test_tolerance_decides_what_counts_as_the_background() -> None:
    rgb, opaque = _ring()
    rgb[0, :] = (235, 20, 235)  # a noisier strip of background along the top
    assert not cut_background(rgb, opaque, tolerance=8).opaque[0].any()
    assert cut_background(rgb, opaque, tolerance=0.5).opaque[0].all()
    assert cut_background(rgb, opaque, mode="key", tolerance=8).opaque[4, 4] == np.False_


def test_an_explicit_key_and_the_4_connectivity_of_the_fill() -> None:
    rgb = np.zeros((5, 5, 3), np.uint8)
    rgb[:] = (0, 0, 0)
    rgb[1:4, 1:4] = (255, 255, 255)
    rgb[2, 2] = (0, 0, 0)
    rgb[1, 1] = (0, 0, 0)  # next to (0, 1), background on the border: flooded
    cut = cut_background(rgb, np.ones((5, 5), bool), key=(0, 0, 0))
    assert not cut.opaque[1, 1] and cut.opaque[2, 2]
    diagonal = np.full((3, 3, 3), 255, np.uint8)
    diagonal[0, 0] = diagonal[1, 1] = (0, 0, 0)
    rgb2 = np.pad(diagonal, ((1, 1), (1, 1), (0, 0)), constant_values=255)
    rgb2[0, 0] = (0, 0, 0)
    cut2 = cut_background(rgb2, np.ones((5, 5), bool), key=(0, 0, 0))
    assert not cut2.opaque[0, 0] and cut2.opaque[1, 1] and cut2.opaque[2, 2]  # diagonal steps do not flood


def _sprite(rows: int, columns: int, box: tuple[int, int, int, int]) -> np.ndarray:
    rgba = np.zeros((rows, columns, 4), np.uint8)
    y0, y1, x0, x1 = box
    rgba[y0:y1, x0:x1] = (200, 50, 50, 255)
    return rgba


def test_the_outline_surrounds_4_adjacently_and_never_clips() -> None:
    rgba = _sprite(3, 3, (0, 3, 0, 3))  # touching every edge
    out = outline(rgba, (1, 2, 3))
    assert out.shape == (5, 5, 4)
    ring = (out[..., 3] > 0) & (out[..., 0] == 1)
    assert ring.sum() == 12  # 4 sides of 3, the corners are only diagonal
    assert not ring[0, 0] and ring[0, 1] and (out[1:4, 1:4, 0] == 200).all()


def test_trim_and_placement() -> None:
    rgba = _sprite(10, 10, (2, 5, 3, 7))
    trimmed = trim(rgba)
    assert trimmed.shape[:2] == (3, 4)
    centred = place(trimmed, (8, 9), "center")
    assert centred.offset == (2, 3) and centred.rgba.shape == (9, 8, 4) and centred.trimmed == (4, 3)
    bottom = place(trimmed, (8, 9), "bottom")
    assert bottom.offset == (2, 6) and bottom.rgba[-1, 2:6, 3].all()
    assert place(trimmed, None).rgba.shape == (3, 4, 4)
    assert trim(np.zeros((4, 4, 4), np.uint8)).shape == (4, 4, 4)  # nothing opaque: nothing to trim to


def test_a_sprite_larger_than_its_cell_does_not_fit() -> None:
    with pytest.raises(SpriteError) as caught:
        place(_sprite(5, 6, (0, 5, 0, 6)), (5, 5))
    assert caught.value.code == "does_not_fit"
    assert "6x5" in caught.value.message and "5x5" in caught.value.message
