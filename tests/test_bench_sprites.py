"""The sprite benchmark (bench/scenarios/sprites.py): its scoring rules, its nearest-exact baseline, and a run of the
whole scenario on a tiny corpus without the PyPI tools (CI does not install them)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from bench.scenarios import sprites


def _sprite() -> np.ndarray:
    sprite = np.zeros((4, 4, 4), dtype=np.uint8)
    sprite[1:3, 1:3] = (200, 10, 10, 255)
    sprite[1, 1, :3] = (10, 10, 200)
    return sprite


def test_a_cell_is_exact_when_its_alpha_matches_and_an_opaque_ones_colour_too() -> None:
    sprite = _sprite()
    assert sprites.score(sprite, sprite.copy()).exact == 1.0
    output = sprite.copy()
    output[0, 0, :3] = (1, 2, 3)  # a transparent cell's colour does not count
    output[1, 1, :3] = (200, 10, 10)  # an opaque cell's does
    output[2, 2, 3] = 0  # nor may an opaque cell turn transparent
    found = sprites.score(sprite, output)
    assert found.exact == 14 / 16
    assert found.size_ok and not found.palette_exact  # the blue is gone


def test_an_output_of_another_size_has_every_cell_wrong_but_a_partial_edge_cell_can_be_forgiven() -> None:
    sprite = _sprite()
    larger = np.zeros((5, 5, 4), dtype=np.uint8)
    larger[1:, 1:] = sprite
    found = sprites.score(sprite, larger)
    assert (found.exact, found.size_ok, found.palette_exact) == (0.0, False, False)
    assert found.edge_forgiven == 1.0
    assert sprites.score(sprite, sprite[:3, :3]).edge_forgiven == 0.0


def test_the_nearest_exact_baseline_samples_as_pillows_nearest_does() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (229, 229, 3), dtype=np.uint8)
    for cells in (16, 24, 32):
        pillow = np.asarray(Image.fromarray(image).resize((cells, cells), Image.Resampling.NEAREST))
        assert np.array_equal(sprites.nearest_exact(image, cells), pillow)


def test_the_baselines_palette_step_keys_out_the_border_colour() -> None:
    colours = np.array([(0, 0, 0), (255, 255, 255)], dtype=np.uint8)
    key = np.array((255, 0, 255), dtype=np.uint8)
    cells = np.array([[(250, 5, 250), (20, 20, 20)], [(240, 240, 240), (255, 0, 255)]], dtype=np.uint8)
    out = sprites.map_to_palette(cells, colours, key)
    assert out[..., 3].tolist() == [[0, 255], [255, 0]]
    assert out[0, 1, :3].tolist() == [0, 0, 0] and out[1, 0, :3].tolist() == [255, 255, 255]


def test_the_scenario_runs_on_a_tiny_corpus(tmp_path, capsys) -> None:
    figures = sprites.sprite_quality_and_cost(tmp_path, None, sizes=(16,), draws=1, tools=False, cost_runs=2)
    names = {f.name for f in figures}
    assert "sprite cells exact, pixflow" in names
    assert "sprite CPU, 512x512 -> 32x32, all steps (median)" in names
    for figure in figures:
        if figure.unit == "%":
            assert 0.0 <= figure.value <= 100.0
    printed = capsys.readouterr().out
    assert f"seed {sprites.SEED}" in printed
    assert "16 pico-8" in printed and "not measured" in printed
