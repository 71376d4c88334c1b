"""Images as text: two pixels per cell, the upper one as the foreground of ▀ and the lower one as its background.

Exact for pixel art: images are scaled by whole factors with nearest-neighbour sampling only (up when they are
small, down when they do not fit), so every source pixel stays one solid block of colour.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from PIL import Image
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

UPPER, LOWER = "▀", "▄"
MAX_UPSCALE = 4


def decode(data: bytes) -> Image.Image:
    """JPEG or PNG bytes to an RGBA image (raises on anything Pillow cannot read)."""
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGBA")


def fit(width: int, height: int, max_cols: int, max_rows: int) -> tuple[int, int]:
    """The pixel size to draw a widthxheight image at, in at most max_cols x max_rows cells, by whole factors."""
    max_cols, max_px_rows = max(1, max_cols), max(2, max_rows * 2)
    if width <= max_cols and height <= max_px_rows:
        factor = max(1, min(MAX_UPSCALE, max_cols // width, max_px_rows // height))
        return width * factor, height * factor
    divisor = max(-(-width // max_cols), -(-height // max_px_rows))
    return max(1, width // divisor), max(1, height // divisor)


def scaled(image: Image.Image, max_cols: int, max_rows: int) -> Image.Image:
    size = fit(image.width, image.height, max_cols, max_rows)
    return image if size == image.size else image.resize(size, Image.Resampling.NEAREST)


def _color(pixel: float | tuple[int, ...]) -> Color | None:
    if not isinstance(pixel, tuple):  # images are converted to RGBA first: never a single band
        return None
    red, green, blue, alpha = pixel
    return Color.from_rgb(red, green, blue) if alpha >= 128 else None


def rows_of(image: Image.Image) -> list[list[Segment]]:
    """One list of segments per text row; transparent pixels show the terminal's background."""
    pixels = image.load()
    assert pixels is not None
    lines: list[list[Segment]] = []
    styles: dict[tuple[Color | None, Color | None, str], Style] = {}
    key: tuple[Color | None, Color | None, str]
    for top in range(0, image.height, 2):
        line: list[Segment] = []
        for x in range(image.width):
            upper = _color(pixels[x, top])
            lower = _color(pixels[x, top + 1]) if top + 1 < image.height else None
            if upper is not None:
                char, key = UPPER, (upper, lower, UPPER)
            elif lower is not None:
                char, key = LOWER, (lower, None, LOWER)
            else:
                char, key = " ", (None, None, " ")
            style = styles.get(key)
            if style is None:
                style = styles[key] = Style(color=key[0], bgcolor=key[1])
            line.append(Segment(char, style))
        lines.append(list(Segment.simplify(line)))
    return lines


class HalfBlocks:
    """A Rich renderable of an image, fitted to the width it is given and at most `max_rows` rows."""

    def __init__(self, image: Image.Image, max_rows: int = 16) -> None:
        self.image = image
        self.max_rows = max_rows
        self._cache: dict[int, list[list[Segment]]] = {}

    def lines(self, width: int) -> list[list[Segment]]:
        if width not in self._cache:
            self._cache[width] = rows_of(scaled(self.image, width, self.max_rows))
        return self._cache[width]

    def size(self, width: int) -> tuple[int, int]:
        columns, pixel_rows = fit(self.image.width, self.image.height, width, self.max_rows)
        return columns, -(-pixel_rows // 2)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines(options.max_width):
            yield from line
            yield Segment.line()


def as_text_lines(segments: Iterable[list[Segment]]) -> list[str]:
    """The characters of rendered rows (for tests)."""
    return ["".join(segment.text for segment in line) for line in segments]
