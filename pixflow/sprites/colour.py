"""Colour spaces for the sprite steps: sRGB bytes to OKLab and back (Björn Ottosson's OKLab, 2020).

Every distance the steps take (a cell's colour against another, against a palette, against the background) is in
OKLab, where equal distances look about equally different; plain RGB distance maps a dark blue to black and splits
greens a viewer calls one. The sRGB decoding goes through a 256-entry table: the steps convert a few thousand
samples a sprite, and the table makes that a lookup instead of a power per channel.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float32]

_SRGB = np.arange(256, dtype=np.float64) / 255.0
_LINEAR = np.where(_SRGB <= 0.04045, _SRGB / 12.92, ((_SRGB + 0.055) / 1.055) ** 2.4).astype(np.float32)

# Ottosson's matrices: linear sRGB -> LMS, then the cube roots of LMS -> Lab.
_M1 = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ],
    dtype=np.float32,
)
_M2 = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ],
    dtype=np.float32,
)
_M1_INV = np.linalg.inv(_M1.astype(np.float64))
_M2_INV = np.linalg.inv(_M2.astype(np.float64))


def oklab(rgb: NDArray[np.generic]) -> Floats:
    """OKLab (L in 0..1) of sRGB bytes, any shape ending in 3; floats are rounded to bytes first."""
    index = np.clip(np.rint(rgb), 0, 255).astype(np.intp) if rgb.dtype.kind == "f" else rgb.astype(np.intp)
    lms = _LINEAR[index] @ _M1.T
    lab: Floats = np.cbrt(lms) @ _M2.T
    return lab


def srgb(lab: NDArray[np.floating]) -> NDArray[np.uint8]:
    """sRGB bytes of OKLab colours (out-of-gamut ones clipped): the inverse of `oklab`."""
    lms = (np.asarray(lab, dtype=np.float64) @ _M2_INV.T) ** 3
    linear = np.clip(lms @ _M1_INV.T, 0.0, 1.0)
    encoded = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(encoded * 255.0), 0, 255).astype(np.uint8)


def hex_colour(rgb: tuple[int, int, int] | NDArray[np.generic]) -> str:
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"
