"""Palettes: the three file formats with their errors' line numbers, the shipped palettes, adaptive and image
palettes, nearest mapping in OKLab and ordered dithering (pixflow/sprites/palette.py, palettes.py, quantise.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pixflow.errors import SpriteError
from pixflow.sprites import PALETTES, palette_from_image, parse_palette_text
from pixflow.sprites.palette import parse_hex_list
from pixflow.sprites.quantise import THRESHOLDS, dither_to_palette, kmeans_palette, map_to_palette
from pixflow.sprites.synthetic import random_palette


def test_hex_files_with_or_without_hash() -> None:
    palette = parse_palette_text("ff0000\n#00FF00\n\n0000ff\n", name="rgb")
    assert palette.colors == ((255, 0, 0), (0, 255, 0), (0, 0, 255))
    assert palette.hex() == ("#ff0000", "#00ff00", "#0000ff")


def test_gimp_palettes_with_header_name_columns_and_comments() -> None:
    text = "GIMP Palette\nName: Mine\nColumns: 4\n# a comment\n255   0   0\tRed\n  0 128 255 Sky blue\n"
    palette = parse_palette_text(text)
    assert palette.name == "Mine" and palette.colors == ((255, 0, 0), (0, 128, 255))


def test_jasc_palettes() -> None:
    palette = parse_palette_text("JASC-PAL\r\n0100\r\n2\r\n1 2 3\r\n250 251 252\r\n")
    assert palette.colors == ((1, 2, 3), (250, 251, 252))


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("ff0000\n00ff00\nzz0000\n", 3),
        ("GIMP Palette\nName: x\n255 0 0 red\n255 0 nope\n", 4),
        ("GIMP Palette\n300 0 0\n", 2),
        ("JASC-PAL\n0100\n3\n1 2 3\n4 5 6\n", 3),  # says 3, has 2
        ("JASC-PAL\n0200\n1\n1 2 3\n", 2),
        ("JASC-PAL\n0100\nmany\n", 3),
        ("JASC-PAL\n0100\n2\n1 2 3\n4 5\n", 5),
    ],
)
def test_errors_name_the_line(text: str, line: int) -> None:
    with pytest.raises(SpriteError) as caught:
        parse_palette_text(text)
    assert caught.value.code == "invalid_palette"
    assert f"line {line}" in caught.value.message


def test_empty_and_oversized_palettes_are_refused() -> None:
    for text in ("\n", "\n".join(f"{i:06x}" for i in range(300)) + "\n", "ff0000\n" * 20000):
        with pytest.raises(SpriteError) as caught:
            parse_palette_text(text)
        assert caught.value.code == "invalid_palette"


def test_literal_lists() -> None:
    assert parse_hex_list("#000000, #ffffff #ff0000").colors == ((0, 0, 0), (255, 255, 255), (255, 0, 0))
    with pytest.raises(SpriteError):
        parse_hex_list("#000000 #12345")


def test_shipped_palettes_counts_and_known_colours() -> None:
    counts = {name: len(p.colors) for name, p in PALETTES.items()}
    assert counts == {"pico-8": 16, "gameboy": 4, "endesga-32": 32, "sweetie-16": 16, "nes": 55}
    assert PALETTES["pico-8"].hex()[8] == "#ff004d" and PALETTES["pico-8"].hex()[15] == "#ffccaa"
    assert PALETTES["gameboy"].hex() == ("#081820", "#346856", "#88c070", "#e0f8d0")
    assert PALETTES["endesga-32"].hex()[0] == "#be4a2f" and PALETTES["endesga-32"].hex()[-1] == "#c28569"
    assert PALETTES["sweetie-16"].hex()[0] == "#1a1c2c" and PALETTES["sweetie-16"].hex()[-1] == "#333c57"
    assert PALETTES["nes"].hex()[:3] == ("#000000", "#fcfcfc", "#f8f8f8")
    for palette in PALETTES.values():
        assert palette.source and len(set(palette.colors)) == len(palette.colors)


def test_adaptive_palette_finds_the_colours_a_noisy_image_was_made_of() -> None:
    rng = np.random.default_rng(1)
    truth = np.array(random_palette(rng, 8).colors, np.int32)
    counts = rng.integers(2, 60, 8)
    pixels = np.concatenate([np.repeat(c[None], n, 0) for c, n in zip(truth, counts, strict=True)])
    noisy = np.clip(pixels + rng.normal(0, 3, pixels.shape), 0, 255).astype(np.uint8)
    found = kmeans_palette(noisy, 8).astype(np.int32)
    assert len(found) == 8
    match = np.argmin(np.abs(found[:, None] - truth[None]).sum(-1), axis=1)
    assert sorted(match) == list(range(8))
    assert np.abs(found - truth[match]).max() <= 6


def test_an_image_with_few_colours_is_its_palette_and_a_busy_one_is_reduced() -> None:
    image = np.zeros((4, 4, 4), np.uint8)
    image[..., 3] = 255
    image[:2, :, :3] = (10, 20, 30)
    image[2:, :, :3] = (200, 100, 0)
    image[0, 0, 3] = 0  # a transparent pixel's colour is no palette colour
    image[0, 0, :3] = (1, 1, 1)
    buffer = io.BytesIO()
    Image.fromarray(image, "RGBA").save(buffer, "PNG")
    assert set(palette_from_image(buffer.getvalue(), 16).colors) == {(10, 20, 30), (200, 100, 0)}
    rng = np.random.default_rng(0)
    busy = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3)).astype(np.uint8), "RGB").save(busy, "PNG")
    assert len(palette_from_image(busy.getvalue(), 5).colors) == 5
    with pytest.raises(SpriteError) as caught:
        palette_from_image(b"not an image", 4)
    assert caught.value.code == "not_an_image"


def test_mapping_is_nearest_in_oklab_not_in_rgb() -> None:
    """A dark saturated blue: nearer black in RGB, nearer the blue in OKLab (as it looks)."""
    palette = np.array([(0, 0, 0), (0, 0, 255), (128, 128, 128)], np.uint8)
    colour = np.array([[[0, 0, 100]]], np.uint8)
    assert np.argmin(((colour.astype(int) - palette.astype(int)) ** 2).sum(-1)) == 0  # RGB says black
    assert map_to_palette(colour, palette)[0, 0] == 1


def test_ordered_dither_on_a_flat_mid_colour_is_a_bayer_pattern() -> None:
    palette = np.array([(0, 0, 0), (255, 255, 255)], np.uint8)
    from pixflow.sprites.colour import oklab, srgb

    mid = srgb((oklab(palette[0]) + oklab(palette[1])) / 2)  # halfway in OKLab
    image = np.tile(mid, (8, 8, 1)).astype(np.uint8)
    index = dither_to_palette(image, palette)
    assert index.mean() == pytest.approx(0.5, abs=0.07)
    expected = np.tile(THRESHOLDS < 0.5, (2, 2))
    assert (index.astype(bool) == expected).mean() >= 0.9
    assert (index[:4, :4] == index[4:, 4:]).all()  # it repeats every 4 cells
    exact = np.tile(palette[1], (4, 4, 1))
    assert (dither_to_palette(exact, palette) == 1).all()  # a palette colour never dithers


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["pico-8", "gameboy", "sweetie-16"]))
def test_mapped_and_dithered_colours_are_all_in_the_palette(seed: int, name: str) -> None:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (9, 7, 3)).astype(np.uint8)
    palette = np.array(PALETTES[name].colors, np.uint8)
    for index in (map_to_palette(image, palette), dither_to_palette(image, palette)):
        assert index.shape == (9, 7) and index.min() >= 0 and index.max() < len(palette)
