"""The palettes pixflow ships, with their published colours in their published order (checked against the Lospec
lists) and where they come from.

"gameboy" is the DMG green that Lospec calls "Nintendo Gameboy (BGB)" (the BGB emulator's four shades), the one
most Game Boy-style art uses; "nes" is Lospec's "Nintendo Entertainment System": the 55 distinct colours of the
usual 64-entry NES palette (the duplicate blacks removed).
"""

from __future__ import annotations

import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixflow.errors import SpriteError
from pixflow.sprites.palette import Palette, hex_to_rgb
from pixflow.sprites.quantise import kmeans_palette

SAMPLE_PIXELS = 65536
MAX_PIXELS = 64 * 1024 * 1024  # Pillow's own bomb limit is about 89M; an image this big is no sprite source


def _palette(name: str, source: str, text: str) -> Palette:
    colours = tuple(rgb for rgb in (hex_to_rgb(token) for token in text.split()) if rgb is not None)
    return Palette(name, colours, source)


PALETTES: dict[str, Palette] = {
    p.name: p
    for p in (
        _palette(
            "pico-8",
            "PICO-8 (Lexaloffle Games), Lospec 'PICO-8'",
            "000000 1d2b53 7e2553 008751 ab5236 5f574f c2c3c7 fff1e8"
            " ff004d ffa300 ffec27 00e436 29adff 83769c ff77a8 ffccaa",
        ),
        _palette(
            "gameboy", "Lospec 'Nintendo Gameboy (BGB)' (the BGB emulator's DMG greens)", "081820 346856 88c070 e0f8d0"
        ),
        _palette(
            "endesga-32",
            "ENDESGA, Lospec 'Endesga 32'",
            "be4a2f d77643 ead4aa e4a672 b86f50 733e39 3e2731 a22633 e43b44 f77622 feae34 fee761 63c74d 3e8948 265c42"
            " 193c3e 124e89 0099db 2ce8f5 ffffff c0cbdc 8b9bb4 5a6988 3a4466 262b44 181425 ff0044 68386c b55088"
            " f6757a e8b796 c28569",
        ),
        _palette(
            "sweetie-16",
            "GrafxKid, Lospec 'Sweetie 16'",
            "1a1c2c 5d275d b13e53 ef7d57 ffcd75 a7f070 38b764 257179 29366f 3b5dc9 41a6f6 73eff7 f4f4f4 94b0c2 566c86"
            " 333c57",
        ),
        _palette(
            "nes",
            "Lospec 'Nintendo Entertainment System' (55 colours of the 64-entry NES palette)",
            "000000 fcfcfc f8f8f8 bcbcbc 7c7c7c a4e4fc 3cbcfc 0078f8 0000fc b8b8f8 6888fc 0058f8 0000bc d8b8f8 9878f8"
            " 6844fc 4428bc f8b8f8 f878f8 d800cc 940084 f8a4c0 f85898 e40058 a80020 f0d0b0 f87858 f83800 a81000"
            " fce0a8 fca044 e45c10 881400 f8d878 f8b800 ac7c00 503000 d8f878 b8f818 00b800 007800 b8f8b8 58d854"
            " 00a800 006800 b8f8d8 58f898 00a844 005800 00fcfc 00e8d8 008888 004058 f8d8f8 787878",
        ),
    )
}


def palette_from_image(data: bytes, most: int) -> Palette:
    """The palette of an image (PNG, GIF, ... any Pillow reads): its distinct opaque colours, or k-means down to
    `most` of them. A big image is sampled on a regular lattice of about 64k pixels first."""
    rgba = decode_image(data)
    pixels = rgba[rgba[..., 3] >= 128][:, :3]
    if len(pixels) == 0:
        raise SpriteError("invalid_palette", "the palette image has no opaque pixel")
    if len(pixels) > SAMPLE_PIXELS:
        pixels = pixels[:: len(pixels) // SAMPLE_PIXELS + 1]
    colours = kmeans_palette(pixels, most)
    return Palette("image", tuple((int(r), int(g), int(b)) for r, g, b in colours))


def decode_image(data: bytes) -> NDArray[np.uint8]:
    """(H, W, 4) RGBA bytes of an image file's bytes, or SpriteError("not_an_image")."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise SpriteError("not_an_image", f"{image.width}x{image.height} is over {MAX_PIXELS} pixels")
            return np.asarray(image.convert("RGBA")).copy()
    except SpriteError:
        raise
    except Exception as e:  # Pillow raises many kinds (UnidentifiedImageError, OSError, ValueError, SyntaxError)
        raise SpriteError("not_an_image", f"the bytes are no image Pillow reads ({type(e).__name__})") from e
