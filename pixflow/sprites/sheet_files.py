"""The files of a sprite sheet: one PNG, an Aseprite JSON atlas, a GIF preview per row (and no .aseprite, see below).

A character's sheet has a row per direction or animation ("down", "walk"...), a few frames each, every frame one
cell of the same size; cells past the end of a shorter row stay transparent and are no frame. The atlas is what
game engines already read: Aseprite's own `--data` export, json-array flavour, as its createDataFile writes it
(src/app/doc_exporter.cpp, with --list-tags --list-layers --list-slices): the same keys in the same order, of the
same types, so that a loader written against Aseprite's output loads ours unchanged. The layout is that of
`--sheet-type rows --split-tags` (a row per tag, each from x = 0). Choices, and why:

* Frame names are `{frame}`, the frame's index in `frames` ("0", "1"...; Aseprite's --filename-format "{frame}"
  without --split-tags, which would count from 0 in each tag), not Aseprite's default `{title} {frame}.{extension}`
  ("sheet 0.png"; with --split-tags `{title} #{tag} {frame}.{extension}`): Phaser's createFromAseprite looks the
  frames of a tag up by their index as a name, so with the default names finds none and plays the sheet's first
  frame throughout; readers that go by position (HaxeFlixel, Ceramic...) or by unique names (PixiJS) do not mind.
  `filename_format` takes Aseprite's placeholders {title} {extension} (of `image_name`), {tag}, {frame} (index in
  `frames`) and {tagframe} (index in the row) for a reader that wants other names.
* A missing frame (its job failed or was cancelled) stays a frame of the atlas, pointing at its transparent cell:
  Aseprite keeps empty frames too unless told --ignore-empty, and readers take a tag's `from`..`to` as positions in
  `frames` (Phaser, HaxeFlixel, which warns against --ignore-empty for that reason), so dropping one would shift
  every later tag. `SheetFiles.missing` lists them; previews leave them out.
* `meta.app` is Aseprite's URL, "http://www.aseprite.org/" as its Linux build writes it (https on Windows and
  macOS): loaders detect the format by that exact string. pixflow says it wrote the file in `meta.version`.
* Tags have Aseprite's default colour, "#000000ff", one layer "Layer 1" (Aseprite's default name), no slices.
* The .aseprite file: the only maintained PyPI library that writes it, `aseprite` (0.1.0, mattt/aseprite-py),
  needs Python >= 3.12 (PEP 695 generics) and pixflow supports 3.11, so `SheetFiles.aseprite` is None for now.
* GIF previews: a colour table per frame, index 0 transparent where alpha < 128 (frames have hard alpha already),
  every other pixel its exact colour (a frame of more than 255 colours is quantised: a preview only); disposal 2
  so a transparent pixel never shows the frame before; delays in hundredths of a second, so a duration is rounded
  to 10 ms, and at least 20 ms since browsers slow 0 and 10 ms delays to 100 ms. Pillow writes two equal frames
  in a row as one of both durations (the same animation). A row with no frame has no preview.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from pixflow.errors import SpriteError

# The names the worker writes the files under, by SheetFiles field ("{row}" is the row's name).
SHEET_FILE_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {"sheet_png": "sheet.png", "atlas": "sheet.json", "previews": "{row}.gif", "aseprite": "sheet.aseprite"}
)
ASEPRITE_APP: Final = "http://www.aseprite.org/"
DEFAULT_FILENAME_FORMAT: Final = "{frame}"
MAX_SIDE: Final = 65535  # Aseprite's sprite header and GIF's screen both hold a side in 16 bits
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}

Pixels = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class SheetRow:
    name: str  # the Aseprite frame tag's name, and the preview's file name
    frames: tuple[bytes | None, ...]  # PNG bytes of each frame; None: no image (failed or cancelled job)


@dataclass(frozen=True)
class SheetFiles:
    sheet_png: bytes  # rows top to bottom, frames left to right, a cell each, transparent where a frame is missing
    atlas: dict[str, Any]  # Aseprite's JSON export, json-array flavour (atlas_json writes it)
    previews: dict[str, bytes]  # row name -> animated GIF of its present frames (rows with some)
    aseprite: bytes | None  # always None for now (module docstring)
    missing: tuple[tuple[str, int], ...]  # (row name, frame index) of every missing frame


def build_sheet(
    rows: Sequence[SheetRow],
    cell: tuple[int, int],
    *,
    image_name: str = "sheet.png",
    duration_ms: int = 100,
    preview_scale: int = 1,
    filename_format: str = DEFAULT_FILENAME_FORMAT,
) -> SheetFiles:
    """The sheet, its atlas and previews from finished frames: SpriteError invalid_sheet, not_an_image, wrong_size."""
    _check_layout(rows, cell, image_name, duration_ms, preview_scale, filename_format)
    width, height = cell
    columns = max(len(row.frames) for row in rows)
    sheet = np.zeros((height * len(rows), width * columns, 4), dtype=np.uint8)
    previews: dict[str, bytes] = {}
    missing: list[tuple[str, int]] = []
    for r, row in enumerate(rows):
        present: list[Pixels] = []
        for i, data in enumerate(row.frames):
            if data is None:
                missing.append((row.name, i))
                continue
            pixels = _decode(row.name, i, data, cell)
            sheet[r * height : (r + 1) * height, i * width : (i + 1) * width] = pixels
            present.append(pixels)
        if present:
            previews[row.name] = _gif(present, duration_ms, preview_scale)
    atlas = _atlas(rows, cell, (sheet.shape[1], sheet.shape[0]), image_name, duration_ms, filename_format)
    return SheetFiles(_png(sheet), atlas, previews, None, tuple(missing))


def atlas_json(atlas: dict[str, Any]) -> bytes:
    """The atlas as written to disk: one space a level as Aseprite's, UTF-8 unescaped as Aseprite's, a final newline."""
    return (json.dumps(atlas, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _invalid(message: str) -> SpriteError:
    return SpriteError("invalid_sheet", message)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_layout(
    rows: Sequence[SheetRow],
    cell: tuple[int, int],
    image_name: str,
    duration_ms: int,
    preview_scale: int,
    filename_format: str,
) -> None:
    if not rows:
        raise _invalid("a sheet needs at least one row")
    if not (isinstance(cell, tuple) and len(cell) == 2 and all(_positive_int(side) for side in cell)):
        raise _invalid(f"cell must be (width, height), two positive integers, got {cell!r}")
    if not (_positive_int(duration_ms) and duration_ms <= 65535):
        raise _invalid(f"duration_ms must be an integer of 1..65535 (Aseprite's frame duration), got {duration_ms!r}")
    if not _positive_int(preview_scale) or max(cell) * preview_scale > MAX_SIDE:
        raise _invalid(f"preview_scale must be a positive integer, cell x scale at most {MAX_SIDE}")
    if not isinstance(image_name, str) or not _SAFE_NAME.fullmatch(image_name):
        raise _invalid(f"image_name must be a plain file name, got {image_name!r}")
    if not isinstance(filename_format, str) or not filename_format:
        raise _invalid(f"filename_format must be a non-empty string, got {filename_format!r}")
    seen: set[str] = set()
    for r, row in enumerate(rows):
        name = row.name
        if not isinstance(name, str) or not name:
            raise _invalid(f"row {r} has no name")
        if not _SAFE_NAME.fullmatch(name) or name.endswith(".") or name.split(".")[0].lower() in _RESERVED:
            raise _invalid(
                f"row name {name!r} is not safe as a file name: letters, digits, '.', '_', '-', at most 64, "
                "starting with a letter or digit, not ending with '.', no device name (con, nul...)"
            )
        if name.lower() in seen:  # "Walk" and "walk" would be one preview file on macOS and Windows
            raise _invalid(f"row name {name!r} is used twice (names are compared ignoring case)")
        seen.add(name.lower())
        if not isinstance(row.frames, tuple) or not row.frames:
            raise _invalid(f"row {name!r} has no frames")
    columns = max(len(row.frames) for row in rows)
    if cell[0] * columns > MAX_SIDE or cell[1] * len(rows) > MAX_SIDE:
        raise _invalid(f"the sheet would be {cell[0] * columns}x{cell[1] * len(rows)}; each side at most {MAX_SIDE}")


def _decode(row: str, index: int, data: object, cell: tuple[int, int]) -> Pixels:
    label = f"frame {index} of row {row!r}"
    if not isinstance(data, bytes):
        raise SpriteError("not_an_image", f"{label} is {type(data).__name__}, not PNG bytes")
    try:
        with Image.open(io.BytesIO(data)) as image:  # lazy: the header only, the size is checked before decoding
            if image.format != "PNG":
                raise SpriteError("not_an_image", f"{label} is {image.format or 'unknown'}, not PNG")
            if image.size != cell:
                raise SpriteError(
                    "wrong_size", f"{label} is {image.size[0]}x{image.size[1]}, the cell {cell[0]}x{cell[1]}"
                )
            return np.array(image.convert("RGBA"), dtype=np.uint8)
    except SpriteError:
        raise
    except Image.DecompressionBombError as e:  # Image.open refuses the declared size before we can compare it
        raise SpriteError("wrong_size", f"{label} declares more pixels than Pillow opens ({e})") from e
    except (OSError, ValueError, SyntaxError) as e:
        raise SpriteError("not_an_image", f"{label} is not a readable PNG: {e}") from e


def _png(pixels: Pixels) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _gif_frame(pixels: Pixels, scale: int) -> Image.Image:
    opaque = pixels[..., 3] >= 128
    colours, inverse = np.unique(pixels[..., :3][opaque], axis=0, return_inverse=True)
    if len(colours) > 255:  # GIF's 256 entries less the transparent one: quantise (a preview only)
        quantised = Image.fromarray(pixels[..., :3][opaque].reshape(1, -1, 3)).quantize(255)
        inverse = np.asarray(quantised, dtype=np.int64).reshape(-1)
        colours = np.frombuffer(bytes(quantised.getpalette() or []), dtype=np.uint8).reshape(-1, 3)[:255]
    indexes = np.zeros(opaque.shape, dtype=np.uint8)
    indexes[opaque] = inverse.reshape(-1) + 1
    frame = Image.frombuffer("P", (pixels.shape[1], pixels.shape[0]), indexes.tobytes(), "raw", "P", 0, 1)
    frame.putpalette(bytes(3) + colours.astype(np.uint8).tobytes())
    frame.info["transparency"] = 0
    if scale > 1:
        frame = frame.resize((frame.width * scale, frame.height * scale), Image.Resampling.NEAREST)
    return frame


def _gif(frames: list[Pixels], duration_ms: int, scale: int) -> bytes:
    images = [_gif_frame(pixels, scale) for pixels in frames]
    delay = max(20, round(duration_ms / 10) * 10)
    out = io.BytesIO()
    images[0].save(
        out,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=[delay] * len(images),
        loop=0,
        disposal=2,
        transparency=0,
        optimize=False,
    )
    return out.getvalue()


def _frame_name(fmt: str, image_name: str, tag: str, frame: int, tagframe: int) -> str:
    path = PurePosixPath(image_name)
    values = {"{title}": path.stem, "{extension}": path.suffix[1:], "{tag}": tag}
    values |= {"{frame}": str(frame), "{tagframe}": str(tagframe)}
    for key, value in values.items():
        fmt = fmt.replace(key, value)
    return fmt


def _atlas(
    rows: Sequence[SheetRow],
    cell: tuple[int, int],
    size: tuple[int, int],
    image_name: str,
    duration_ms: int,
    filename_format: str,
) -> dict[str, Any]:
    width, height = cell
    frames: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    for r, row in enumerate(rows):
        first = len(frames)
        for i in range(len(row.frames)):
            frames.append(
                {
                    "filename": _frame_name(filename_format, image_name, row.name, len(frames), i),
                    "frame": {"x": i * width, "y": r * height, "w": width, "h": height},
                    "rotated": False,
                    "trimmed": False,
                    "spriteSourceSize": {"x": 0, "y": 0, "w": width, "h": height},
                    "sourceSize": {"w": width, "h": height},
                    "duration": duration_ms,
                }
            )
        tags.append(
            {"name": row.name, "from": first, "to": len(frames) - 1, "direction": "forward", "color": "#000000ff"}
        )
    names = [frame["filename"] for frame in frames]
    if len(set(names)) != len(names):
        raise _invalid(f"filename_format {filename_format!r} gives two frames the same name; add {{frame}}")
    meta = {
        "app": ASEPRITE_APP,
        "version": "pixflow",  # Aseprite writes its own version here, e.g. "1.3.18-x64"
        "image": image_name,
        "format": "RGBA8888",
        "size": {"w": size[0], "h": size[1]},
        "scale": "1",
        "frameTags": tags,
        "layers": [{"name": "Layer 1", "opacity": 255, "blendMode": "normal"}],
        "slices": [],
    }
    return {"frames": frames, "meta": meta}
