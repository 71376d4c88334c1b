"""The steps as data, the `post:` list's parsing, parameter checks and a whole run's Result
(pixflow/sprites/steps.py, run.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pixflow.errors import SpriteError
from pixflow.sprites import (
    PALETTES,
    STEP_DESCRIPTIONS,
    STEPS,
    check_value,
    parse_pipeline,
    run_on_array,
    run_pipeline,
)
from pixflow.sprites.synthetic import background_for, fake_pixel_art, make_sprite

ALL = ["grid", "alpha", "palette", "outline", "cell"]


def _param(key: str):  # type: ignore[no-untyped-def]
    step, name = key.split(".")
    return next(p for p in STEPS[step] if p.name == name)


def _png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


def _fake(seed: int = 0, cells: int = 24) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sprite = make_sprite(rng, cells, PALETTES["pico-8"], True)
    image = fake_pixel_art(
        sprite, rng, scale=9.3, phase=(2.0, 4.0), blur=1.0, noise=5.0, jpeg_quality=85,
        background=background_for(PALETTES["pico-8"]),
    )  # fmt: skip
    return sprite, image


def test_steps_and_their_parameters_are_declared_in_run_order() -> None:
    assert list(STEPS) == ALL and set(STEP_DESCRIPTIONS) == set(ALL)
    defaults = {p.key: p.default for params in STEPS.values() for p in params}
    assert defaults == {
        "grid.size": "auto", "grid.cell_px": 0.0, "grid.given": "fallback", "grid.method": "majority",
        "alpha.mode": "border", "alpha.tolerance": 8.0, "alpha.key": "auto",
        "palette.palette": "adaptive", "palette.colors": 16, "palette.dither": "none",
        "outline.enabled": True, "outline.colour": "darkest",
        "cell.size": "auto", "cell.trim": True, "cell.anchor": "center",
    }  # fmt: skip
    for params in STEPS.values():
        for p in params:
            assert p.kind in ("INT", "FLOAT", "BOOLEAN", "STRING", "COMBO") and p.description
            assert check_value(p, p.default) == p.default


def test_a_pipeline_from_names_and_mappings_with_defaults_filled_in() -> None:
    pipeline = parse_pipeline(["grid", {"palette": {"palette": "pico-8", "dither": "ordered"}}, {"cell": None}])
    assert [s.name for s in pipeline.steps] == ["grid", "palette", "cell"]
    assert pipeline.describe()[1] == {"step": "palette", "palette": "pico-8", "colors": 16, "dither": "ordered"}
    assert [p.key for p in pipeline.params()][:2] == ["grid.size", "grid.cell_px"]
    assert parse_pipeline([]).steps == ()


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ("grid", "invalid_step"),
        (["grid", "blur"], "invalid_step"),
        (["palette", "grid"], "invalid_step"),
        (["grid", "grid"], "invalid_step"),
        ([{"grid": {}, "alpha": {}}], "invalid_step"),
        ([{"grid": "auto"}], "invalid_step"),
        ([3], "invalid_step"),
        ([{"grid": {"sise": "auto"}}], "invalid_param"),
        ([{"grid": {"size": "32"}}], "invalid_param"),
        ([{"grid": {"cell_px": 0.5}}], "invalid_param"),
        ([{"grid": {"cell_px": 300}}], "invalid_param"),
        ([{"alpha": {"mode": "magic"}}], "invalid_param"),
        ([{"alpha": {"tolerance": True}}], "invalid_param"),
        ([{"alpha": {"key": "red"}}], "invalid_param"),
        ([{"palette": {"colors": 1}}], "invalid_param"),
        ([{"palette": {"colors": 2.5}}], "invalid_param"),
        ([{"palette": {"palette": "pico8"}}], "invalid_param"),
        ([{"palette": {"palette": "ff0000\nnope\n"}}], "invalid_palette"),
        ([{"outline": {"enabled": "yes"}}], "invalid_param"),
        ([{"cell": {"size": "0x4"}}], "invalid_param"),
    ],
)
def test_bad_lists_and_values_have_their_codes(spec: object, code: str) -> None:
    with pytest.raises(SpriteError) as caught:
        parse_pipeline(spec)
    assert caught.value.code == code


def test_a_bad_value_message_names_the_parameter_the_value_and_what_is_allowed() -> None:
    with pytest.raises(SpriteError) as caught:
        check_value(_param("palette.colors"), 999)
    assert (
        "palette.colors" in caught.value.message and "999" in caught.value.message and "2 to 256" in str(caught.value)
    )


def test_values_are_normalised() -> None:
    assert check_value(_param("grid.size"), " 32X16 ") == "32x16"
    assert check_value(_param("alpha.key"), "#FF00AA") == "#ff00aa"
    assert check_value(_param("palette.colors"), 8.0) == 8
    assert check_value(_param("alpha.tolerance"), 3) == 3.0
    assert check_value(_param("palette.palette"), "#000000, #ffffff") == "#000000, #ffffff"
    assert check_value(_param("palette.palette"), "image:ref") == "image:ref"


def test_with_values_sets_known_keys_of_present_steps_only() -> None:
    pipeline = parse_pipeline(["grid", "palette"])
    changed = pipeline.with_values({"palette.palette": "gameboy", "grid.method": "median"})
    assert changed.steps[1].params["palette"] == "gameboy" and changed.steps[0].params["method"] == "median"
    assert pipeline.steps[1].params["palette"] == "adaptive"  # the original is unchanged
    for values in ({"cell.size": "8x8"}, {"palette.nope": 1}, {"nope": 1}, {"palette.colors": 0}):
        with pytest.raises(SpriteError) as caught:
            pipeline.with_values(values)
        assert caught.value.code == "invalid_param"


def test_a_whole_run_records_each_step() -> None:
    sprite, image = _fake()
    pipeline = parse_pipeline([*ALL[:2], {"palette": {"palette": "pico-8"}}, "outline", {"cell": {"size": "40x40"}}])
    result = run_pipeline(pipeline, _png(image))
    assert [r["step"] for r in result.records] == ALL
    grid, alpha, palette, outline_, cell = (r["found"] for r in result.records)
    assert grid["size"] == [24, 24] and grid["detected"] and grid["source"] == "detected"
    assert grid["cell_px"][0] == pytest.approx(9.3, abs=0.05)
    assert alpha["transparent_cells"] == int((sprite[..., 3] == 0).sum()) and alpha["key"].startswith("#")
    assert palette == {"name": "pico-8", "colors": 16} and outline_["colour"] == "#000000"
    assert cell["size"] == [40, 40] and result.width == result.height == 40
    assert all(isinstance(r["ms"], float) and r["params"] for r in result.records)
    out = np.asarray(Image.open(io.BytesIO(result.png)))
    assert out.shape == (40, 40, 4) and set(np.unique(out[..., 3])) <= {0, 255}
    opaque = {f"#{r:02x}{g:02x}{b:02x}" for r, g, b in out[out[..., 3] > 0][:, :3]}
    assert opaque <= set(result.palette) == set(PALETTES["pico-8"].hex())


def test_image_palettes_literal_lists_and_no_palette() -> None:
    _, image = _fake(1)
    rgba = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    reference = np.array([[(0, 0, 0), (255, 255, 255)]], np.uint8)
    by_image = parse_pipeline(["grid", "alpha", {"palette": {"palette": "image:ref"}}])
    _, result = run_on_array(by_image, rgba, images={"ref": _png(reference)})
    assert set(result.palette) == {"#000000", "#ffffff"}
    with pytest.raises(SpriteError) as caught:
        run_on_array(by_image, rgba)
    assert caught.value.code == "invalid_param"
    _, listed = run_on_array(parse_pipeline(["grid", {"palette": {"palette": "#ff0000 #0000ff"}}]), rgba)
    assert listed.palette == ("#ff0000", "#0000ff")
    _, kept = run_on_array(parse_pipeline(["grid", {"palette": {"palette": "none"}}]), rgba)
    assert 0 < len(kept.palette) <= 256  # the sprite's own distinct colours


def test_no_image_and_a_sprite_too_big_for_its_cell() -> None:
    with pytest.raises(SpriteError) as caught:
        run_pipeline(parse_pipeline(ALL), b"\x89PNG nothing")
    assert caught.value.code == "not_an_image"
    _, image = _fake(2)
    with pytest.raises(SpriteError) as caught:
        run_pipeline(parse_pipeline(["grid", "alpha", {"cell": {"size": "4x4"}}]), _png(image))
    assert caught.value.code == "does_not_fit"


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["gameboy", "pico-8", "adaptive"]), st.booleans())
def test_any_image_gives_hard_alpha_and_palette_colours_only(seed: int, palette: str, dither: bool) -> None:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (int(rng.integers(4, 40)), int(rng.integers(4, 40)), 4)).astype(np.uint8)
    spec = ["grid", "alpha", {"palette": {"palette": palette, "dither": "ordered" if dither else "none"}}, "outline"]
    out, result = run_on_array(parse_pipeline(spec), image)
    assert set(np.unique(out[..., 3])) <= {0, 255}
    colours = {f"#{r:02x}{g:02x}{b:02x}" for r, g, b in out[out[..., 3] > 0][:, :3]}
    assert colours <= set(result.palette)
