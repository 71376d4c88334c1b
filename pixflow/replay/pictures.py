"""The replay server's pictures: a seeded, mirrored pixel-art creature (a "space invader") for each image.

The recorded runs used a tiny random-weight model, whose images are black; a stand-in ComfyUI that served them
would show nothing in the dashboard or a contact sheet. Each image is drawn instead from its plan
(image_plan.py): the creature, chosen by the sampler's prompt text, seed and the image's place in its batch,
is decoded smooth (bilinear) at the latent's size, on a plain background, then put through the graph's own
scale and quantize steps. So `sprite` gives hard-edged pixel art of `grid`x`grid` with at most `colors`
colours, and `txt2img_2pass` a soft picture twice the first pass's size. Same plan, same bytes.

Previews are the sampler's picture at latent resolution (an eighth of the image's sides), blended out of seeded
noise as the steps advance, and scaled up to fit 512x512, the size ComfyUI's latent2rgb previews are sent at.

Cheap by design (the benchmarks replay thousands of prompts): a 64x64 PNG costs about 0.3 ms, a 512x512 JPEG
preview about 1.5 ms, and both are cached by plan.
"""

from __future__ import annotations

import colorsys
import io
import random
from dataclasses import replace
from functools import lru_cache

from PIL import Image, ImageOps

from pixflow.replay.image_plan import LATENT_SCALE, ImagePlan, Latent, Quantize, Scale

DESIGN_SIDE = 12  # the creature's canvas in cells: 10x10 of creature inside a one-cell margin
_HALF, _ROWS = 5, 10  # the drawn half (mirrored) and the rows of the creature
UNCOMPRESSED_PIXELS = 128 * 128  # PNGs up to this size are written without deflate (a 64x64 one: 12 KB)
PREVIEW_SIDE = 512  # ComfyUI's default --preview-size: previews are contained in 512x512
_METHODS = {
    "nearest-exact": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "bislerp": Image.Resampling.BILINEAR,
}

Colour = tuple[int, int, int]


def _colour(hue: float, saturation: float, value: float) -> Colour:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def design(latent: Latent, index: int) -> Image.Image:
    """The creature of this prompt, seed and batch entry, one pixel per cell."""
    rng = random.Random(f"{latent.text}\0{latent.seed}\0{index}")  # a str seed: the same on every run
    hue = rng.random()
    background = _colour(hue + 0.5, 0.35, 0.15 + 0.2 * rng.random())
    shades = [_colour(hue, 0.55 + 0.3 * rng.random(), value) for value in (1.0, 0.82, 0.64)]
    eye = _colour(hue + 0.5, 0.1, 0.98)
    body = [
        [rng.random() < 0.55 or (column == _HALF - 1 and 2 <= row <= 7) for column in range(_HALF)]
        for row in range(_ROWS)
    ]
    eye_row, eye_column = rng.randint(2, 4), rng.randint(1, _HALF - 2)
    body[eye_row][eye_column] = True
    pixels = [background] * (DESIGN_SIDE * DESIGN_SIDE)
    for row in range(_ROWS):
        for column in range(_HALF):
            if not body[row][column]:
                continue
            colour = eye if (row, column) == (eye_row, eye_column) else shades[min(2, row * 3 // _ROWS)]
            for x in (column, 2 * _HALF - 1 - column):  # mirrored about the middle
                pixels[(row + 1) * DESIGN_SIDE + x + 1] = colour
    picture = Image.new("RGB", (DESIGN_SIDE, DESIGN_SIDE))
    picture.putdata(pixels)
    return picture


def decoded(latent: Latent, index: int) -> Image.Image:
    """What VAEDecode gives: the creature fitted, smooth, into the latent's size on its background."""
    creature = design(latent, index)
    width, height = latent.width, latent.height
    side = min(width, height)
    canvas = Image.new("RGB", (width, height), creature.getpixel((0, 0)))
    canvas.paste(creature.resize((side, side), Image.Resampling.BILINEAR), ((width - side) // 2, (height - side) // 2))
    return canvas


def render(plan: ImagePlan, index: int) -> Image.Image:
    latent, steps = plan.latent, plan.steps
    first = steps[0] if steps else None
    if isinstance(first, Scale) and _shrinks_alike(latent, first):
        # Decoding a large latent only to scale it down costs milliseconds; the smooth picture drawn at the
        # smaller size directly is the same picture.
        latent, steps = replace(latent, width=first.width, height=first.height), steps[1:]
    picture = decoded(latent, index)
    for step in steps:
        if isinstance(step, Scale):
            method = _METHODS.get(step.method, Image.Resampling.BILINEAR)
            size = (step.width, step.height)
            picture = ImageOps.fit(picture, size, method) if step.crop else picture.resize(size, method)
        elif isinstance(step, Quantize):
            dither = Image.Dither.FLOYDSTEINBERG if step.dither else Image.Dither.NONE
            picture = picture.quantize(step.colors, Image.Quantize.MEDIANCUT, dither=dither).convert("RGB")
    return picture


def _shrinks_alike(latent: Latent, scale: Scale) -> bool:
    """A scale down on both sides that keeps the aspect ratio and crops nothing."""
    smaller = scale.width <= latent.width and scale.height <= latent.height
    return smaller and not scale.crop and scale.width * latent.height == scale.height * latent.width


@lru_cache(maxsize=256)
def png(plan: ImagePlan, index: int) -> bytes:
    """Image `index` of the plan's batch as SaveImage would write it (PNG)."""
    picture = render(plan, index)
    buffer = io.BytesIO()
    # Deflating costs more than drawing: small images (what tests and benchmarks make) are stored as they are.
    small = picture.width * picture.height <= UNCOMPRESSED_PIXELS
    picture.save(buffer, format="PNG", compress_level=0 if small else 1)
    return buffer.getvalue()


@lru_cache(maxsize=256)
def preview(latent: Latent, step: int, steps: int, image_format: str) -> bytes:
    """The preview ComfyUI would send after `step` of `steps` of the sampler making `latent` (JPEG or PNG)."""
    small = Latent(
        max(1, latent.width // LATENT_SCALE), max(1, latent.height // LATENT_SCALE), 1, latent.seed, latent.text
    )
    clear = decoded(small, 0)
    rng = random.Random(f"noise\0{latent.text}\0{latent.seed}")
    noise = Image.frombytes("RGB", clear.size, rng.randbytes(clear.width * clear.height * 3))
    picture = Image.blend(noise, clear, max(0.0, min(1.0, step / max(1, steps))))
    # ComfyUI scales its previews up bilinear; nearest costs a tenth of that, and the latent's cells read as pixels.
    picture = ImageOps.contain(picture, (PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    if image_format == "png":
        picture.save(buffer, format="PNG", compress_level=1)
    else:
        picture.save(buffer, format="JPEG", quality=95)  # ComfyUI's preview quality
    return buffer.getvalue()
