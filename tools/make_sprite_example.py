"""Writes docs/images/sprite-sheet-example.png and docs/images/sprite-steps-example.png: run from the repo root.

    .venv/bin/python tools/make_sprite_example.py

A character (pixflow/sprites/synthetic.py's known sprite) in two rows of four frames: `idle` bobs, `walk` steps.
Each frame is drawn as a model draws fake pixel art (a non-integer block size, a random phase, blur, noise, JPEG),
then put through the sprite workflow's steps (grid auto, border alpha, PICO-8, outline, a 40x40 cell) and the sheet
builder the worker uses. The pictures are scaled up 4x, nearest-neighbour, to be seen; seeded, so a rerun writes the
same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pixflow.sprites import PALETTES, parse_pipeline, run_pipeline
from pixflow.sprites.sheet_files import SheetRow, build_sheet
from pixflow.sprites.synthetic import fake_pixel_art, make_sprite

OUT = Path("docs/images")
CELLS = 32
SHOWN = 4  # nearest-neighbour zoom of the pictures
STEPS = [
    {"grid": {"size": "auto"}},
    {"alpha": {"mode": "border", "tolerance": 10}},
    {"palette": {"palette": "pico-8"}},
    {"outline": {"colour": "darkest"}},
    {"cell": {"size": "40x40", "anchor": "bottom"}},
]


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _posed(sprite: np.ndarray, head_dy: int, feet_dx: int) -> np.ndarray:
    """The sprite with its top half moved down `head_dy` cells (a bob) and its bottom quarter `feet_dx` cells
    sideways (a step): what changes between a character's frames while its outline stays put."""
    posed = sprite.copy()
    half, quarter = sprite.shape[0] // 2, sprite.shape[0] * 3 // 4
    if head_dy:
        posed[head_dy : half + head_dy] = sprite[:half]
        posed[:head_dy] = 0
    posed[quarter:] = np.roll(sprite[quarter:], feet_dx, axis=1)
    return posed


def _frames(sprite: np.ndarray, rng: np.random.Generator, poses: list[tuple[int, int]]) -> list[np.ndarray]:
    """Fake pixel art of the sprite in each pose, each drawn afresh (its own scale, phase and noise)."""
    frames = []
    for head_dy, feet_dx in poses:
        moved = _posed(sprite, head_dy, feet_dx)
        scale = float(rng.uniform(9.0, 15.0))
        phase = (float(rng.uniform(0, scale)), float(rng.uniform(0, scale)))
        frames.append(
            fake_pixel_art(
                moved, rng, scale=scale, phase=phase, blur=1.0, noise=5.0, jpeg_quality=85, background=(255, 0, 255)
            )
        )
    return frames


def _zoom(image: Image.Image, factor: int) -> Image.Image:
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def main() -> None:
    rng = np.random.default_rng(23)
    sprite = make_sprite(rng, CELLS, PALETTES["pico-8"], transparent=True)
    pipeline = parse_pipeline(STEPS)
    rows = {"idle": [(0, 0), (1, 0), (1, 0), (0, 0)], "walk": [(0, -1), (1, 0), (0, 1), (1, 0)]}
    generated = {name: _frames(sprite, rng, moves) for name, moves in rows.items()}
    sprites = {name: [run_pipeline(pipeline, _png(frame)) for frame in frames] for name, frames in generated.items()}
    sheet_rows = [SheetRow(name, tuple(result.png for result in results)) for name, results in sprites.items()]
    files = build_sheet(sheet_rows, (40, 40), duration_ms=150)
    OUT.mkdir(parents=True, exist_ok=True)
    with Image.open(io.BytesIO(files.sheet_png)) as sheet:
        backdrop = Image.new("RGBA", sheet.size, (40, 44, 52, 255))
        backdrop.alpha_composite(sheet.convert("RGBA"))
        _zoom(backdrop, SHOWN).convert("RGB").save(OUT / "sprite-sheet-example.png", optimize=True)
    # The steps on one frame: the generation (shrunk to the sprite's shown size) beside the sprite.
    raw = Image.fromarray(generated["idle"][0]).resize((40 * SHOWN, 40 * SHOWN), Image.Resampling.BILINEAR)
    with Image.open(io.BytesIO(sprites["idle"][0].png)) as first:
        done = Image.new("RGBA", first.size, (40, 44, 52, 255))
        done.alpha_composite(first.convert("RGBA"))
        done = _zoom(done, SHOWN)
    pair = Image.new("RGB", (raw.width + done.width + 16, raw.height + 20), (255, 255, 255))
    pair.paste(raw.convert("RGB"), (0, 20))
    pair.paste(done.convert("RGB"), (raw.width + 16, 20))
    draw = ImageDraw.Draw(pair)
    draw.text((4, 4), "generation (fake pixel art)", fill=(0, 0, 0))
    draw.text((raw.width + 20, 4), "sprite (pixflow's steps)", fill=(0, 0, 0))
    pair.save(OUT / "sprite-steps-example.png", optimize=True)
    print(f"wrote {OUT / 'sprite-sheet-example.png'} and {OUT / 'sprite-steps-example.png'}")


if __name__ == "__main__":
    main()
