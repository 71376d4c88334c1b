"""Palettes: the value, and the three text formats users bring (Lospec .hex, GIMP .gpl, JASC .pal).

A parse error names the line (1-based), because palette files are edited by hand and "invalid palette" alone leaves
the user searching. Colours are kept in file order: a palette's order is its author's and shows in editors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pixflow.errors import SpriteError

RGB = tuple[int, int, int]
MAX_TEXT = 64 * 1024
MAX_COLOURS = 256
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


@dataclass(frozen=True)
class Palette:
    name: str
    colors: tuple[RGB, ...]
    source: str = ""  # where a shipped palette comes from (its author / Lospec page title)

    def hex(self) -> tuple[str, ...]:
        return tuple(f"#{r:02x}{g:02x}{b:02x}" for r, g, b in self.colors)


def hex_to_rgb(text: str) -> RGB | None:
    """(r, g, b) of "rrggbb" or "#rrggbb", None for anything else."""
    match = _HEX.match(text.strip())
    if match is None:
        return None
    value = int(match.group(1), 16)
    return (value >> 16, (value >> 8) & 0xFF, value & 0xFF)


def parse_hex_list(text: str, *, name: str = "list") -> Palette:
    """A literal list "#rrggbb #rrggbb ..." (spaces or commas between)."""
    tokens = [t for t in re.split(r"[\s,]+", text.strip()) if t]
    colours = [hex_to_rgb(t) for t in tokens]
    bad = next((t for t, c in zip(tokens, colours, strict=True) if c is None), None)
    if bad is not None or not tokens:
        raise SpriteError("invalid_palette", f"{bad!r} is no #rrggbb colour" if bad else "no colours in the list")
    return _checked(name, [c for c in colours if c is not None], "")


def parse_palette_text(text: str, *, name: str = "file") -> Palette:
    """A .hex, .gpl or JASC .pal file's text, the format sniffed from its first line."""
    if len(text.encode("utf-8", "replace")) > MAX_TEXT:
        raise SpriteError("invalid_palette", f"palette text over {MAX_TEXT // 1024} KiB")
    lines = text.lstrip("\ufeff").splitlines()
    first = lines[0].strip() if lines else ""
    if first.startswith("GIMP Palette"):
        return _parse_gpl(lines, name)
    if first.startswith("JASC-PAL"):
        return _parse_pal(lines, name)
    return _parse_hex(lines, name)


def _parse_hex(lines: list[str], name: str) -> Palette:
    colours: list[RGB] = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith(";"):  # Lospec's files have none, but hand-written ones carry comments
            continue
        colour = hex_to_rgb(text)
        if colour is None:
            raise SpriteError("invalid_palette", f"line {number}: {text[:40]!r} is no rrggbb colour")
        colours.append(colour)
    return _checked(name, colours, "")


def _parse_gpl(lines: list[str], name: str) -> Palette:
    colours: list[RGB] = []
    title = name
    for number, line in enumerate(lines[1:], 2):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        key, _, value = text.partition(":")
        if key in ("Name", "Columns") and not key[0].isdigit():
            title = value.strip() or title if key == "Name" else title
            if key == "Columns" and not value.strip().isdigit():
                raise SpriteError("invalid_palette", f"line {number}: Columns must be a whole number")
            continue
        colours.append(_rgb_fields(text.split()[:3], number, text))
    return _checked(title, colours, "")


def _parse_pal(lines: list[str], name: str) -> Palette:
    if len(lines) < 3 or lines[1].strip() != "0100":
        raise SpriteError("invalid_palette", "line 2: a JASC-PAL file's second line is 0100")
    count_text = lines[2].strip()
    if not count_text.isdigit():
        raise SpriteError("invalid_palette", f"line 3: {count_text[:40]!r} is no colour count")
    colours = [
        _rgb_fields(line.split(), number, line.strip()) for number, line in enumerate(lines[3:], 4) if line.strip()
    ]
    if len(colours) != int(count_text):
        raise SpriteError("invalid_palette", f"line 3: says {int(count_text)} colours, the file has {len(colours)}")
    return _checked(name, colours, "")


def _rgb_fields(fields: list[str], number: int, text: str) -> RGB:
    if len(fields) < 3 or not all(f.isdigit() and int(f) <= 255 for f in fields[:3]):
        raise SpriteError("invalid_palette", f"line {number}: {text[:40]!r} is not 'R G B' with values 0-255")
    if len(fields) > 3 and not fields[3].isdigit():  # JASC: exactly R G B (an alpha column is tolerated)
        pass
    return (int(fields[0]), int(fields[1]), int(fields[2]))


def _checked(name: str, colours: list[RGB], source: str) -> Palette:
    if not colours:
        raise SpriteError("invalid_palette", "the palette has no colours")
    if len(colours) > MAX_COLOURS:
        raise SpriteError("invalid_palette", f"{len(colours)} colours: at most {MAX_COLOURS}")
    return Palette(name, tuple(colours), source)
