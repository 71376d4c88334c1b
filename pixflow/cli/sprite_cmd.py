"""`pixflow sprite IN OUT`: the sprite steps on one image file, no worker needed (pixflow/sprites).

The options are declared in pixflow/cli/main.py (so that other commands never import this module); each maps to
one step parameter, and the pipeline is every step with the options' values, outline only with
--outline (a user asks for it; a workflow's default is on). Bad input (an unreadable image, a bad palette file,
a bad value) ends with exit status 2 and one line, "error: <code>: <message>", never a traceback: the options'
values are checked by the steps' own check_value, not by argparse, so the message is the one a workflow gets.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

from pixflow.errors import SpriteError

PALETTE_TEXTS = (".hex", ".gpl", ".pal", ".txt")


def cmd_sprite(args: argparse.Namespace) -> int:
    try:
        return _sprite(args)
    except SpriteError as e:
        print(f"error: {e.code}: {e.message}", file=sys.stderr)
        return 2


def _sprite(args: argparse.Namespace) -> int:
    from pixflow.sprites import PALETTES, parse_pipeline, run_pipeline

    if args.list_palettes:
        for shipped in PALETTES.values():
            print(f"{shipped.name:12} {len(shipped.colors):3} colours  {shipped.source}")
        return 0
    if args.input is None or args.output is None:
        raise SpriteError("invalid_param", "give IN and OUT (or --list-palettes)")
    if args.scale < 0 or args.scale > 64:
        raise SpriteError("invalid_param", f"--scale: {args.scale} is not allowed: 1 to 64 (0: not)")
    image = _read(args.input, "IN")
    palette, images = _palette_value(args.palette)
    steps: list[object] = [
        {"grid": {"size": args.grid, "cell_px": args.cell_px, "given": args.given, "method": args.method}},
        {"alpha": {"mode": args.alpha, "tolerance": args.tolerance, "key": args.key}},
        {"palette": {"palette": palette, "colors": args.colors, "dither": args.dither}},
    ]
    if args.outline:
        steps.append({"outline": {"enabled": True, "colour": args.outline_colour}})
    steps.append({"cell": {"size": args.cell, "trim": not args.no_trim, "anchor": args.anchor}})
    result = run_pipeline(parse_pipeline(steps), image, images=images)
    _write(args.output, result.png)
    if args.scale > 1:
        _write(_scaled_path(args.output, args.scale), _scaled(result.png, args.scale))
    if args.record is not None:
        record = {"width": result.width, "height": result.height, "palette": list(result.palette)}
        record["records"] = list(result.records)
        _write(args.record, (json.dumps(record, indent=2) + "\n").encode())
    print(f"{args.output}: {result.width}x{result.height}, {len(result.palette)} colours")
    return 0


def _palette_value(value: str) -> tuple[str, dict[str, bytes]]:
    """A palette option as the step's value: a file's text, an image file as images={"palette": ...}."""
    from pixflow.sprites import PALETTES

    path = Path(value)
    if value in PALETTES or value in ("adaptive", "none") or value.startswith("#") or not path.exists():
        return value, {}
    data = _read(path, "--palette")
    if path.suffix.lower() in PALETTE_TEXTS:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SpriteError("invalid_palette", f"{path}: not UTF-8 text (byte {e.start})") from None
        return (text if "\n" in text else text + "\n"), {}
    return "image:palette", {"palette": data}


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise SpriteError("not_an_image" if what == "IN" else "invalid_palette", f"{what} {path}: {e.strerror}") from e


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as e:
        raise SpriteError("invalid_param", f"cannot write {path}: {e.strerror}") from e


def _scaled_path(path: Path, scale: int) -> Path:
    return path.with_name(f"{path.stem}@{scale}x{path.suffix or '.png'}")


def _scaled(png: bytes, scale: int) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        big = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
        buffer = io.BytesIO()
        big.save(buffer, "PNG")
    return buffer.getvalue()
