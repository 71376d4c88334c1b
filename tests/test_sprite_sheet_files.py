"""pixflow/sprites/sheet_files.py: the sheet's pixels, the atlas against Aseprite's format and read by Phaser, the GIFs.

The independent reader of the atlas is Phaser (npm `phaser`, the engine with Aseprite support of its own): its
TextureManager's JSON-array parser and AnimationManager.createFromAseprite run under Node on the atlas. Install it
with `npm install --prefix .cache/node --no-save --no-package-lock --no-audit --no-fund phaser@4.2.1` (or point
PIXFLOW_NODE_MODULES at a node_modules holding it); without it the test is skipped here and fails under CI=true.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from pixflow.errors import SpriteError
from pixflow.sprites.sheet_files import (
    ASEPRITE_APP,
    SHEET_FILE_NAMES,
    SheetRow,
    atlas_json,
    build_sheet,
)

REPO = Path(__file__).resolve().parent.parent
PHASER_VERSION = "4.2.1"


def frame_pixels(seed: int, size: tuple[int, int] = (4, 3), colours: int = 6) -> np.ndarray:
    """A frame of hard alpha: a few colours of its own, about half the pixels transparent (RGB 0 there)."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (colours, 3), dtype=np.uint8)
    w, h = size
    pixels = np.zeros((h, w, 4), dtype=np.uint8)
    pixels[..., :3] = palette[rng.integers(0, colours, (h, w))]
    pixels[..., 3] = np.where(rng.random((h, w)) < 0.5, 255, 0)
    pixels[0, 0] = (*palette[seed % colours], 255)  # never all transparent, and frames differ
    pixels[pixels[..., 3] == 0] = 0
    return pixels


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA"))


CELL = (4, 3)
FRAMES = {(r, i): frame_pixels(10 * r + i) for r in range(3) for i in range(4)}
# Three rows of different lengths; walk's frame 1 and all of idle's are missing.
ROWS = [
    SheetRow("down", tuple(png(FRAMES[0, i]) for i in range(4))),
    SheetRow("walk", (png(FRAMES[1, 0]), None, png(FRAMES[1, 2]))),
    SheetRow("idle", (None,)),
]


@pytest.fixture(scope="module")
def files() -> Any:
    return build_sheet(ROWS, CELL)


def test_sheet_pixels(files: Any) -> None:
    sheet = decode(files.sheet_png)
    assert sheet.shape == (3 * 3, 4 * 4, 4)
    w, h = CELL
    for r, row in enumerate(ROWS):
        for i in range(4):
            cell = sheet[r * h : (r + 1) * h, i * w : (i + 1) * w]
            if i < len(row.frames) and row.frames[i] is not None:
                assert np.array_equal(cell, FRAMES[r, i]), (r, i)
            else:  # missing, or past the row's end
                assert not cell.any(), (r, i)
    assert files.missing == (("walk", 1), ("idle", 0))
    assert files.aseprite is None


# An export as Aseprite 1.3 writes it (src/app/doc_exporter.cpp, createDataFile; --format json-array --list-tags
# --list-layers --list-slices): the key order and types every field must match.
ASEPRITE_EXPORT: dict[str, Any] = {
    "frames": [
        {
            "filename": "hero 0.aseprite",
            "frame": {"x": 0, "y": 0, "w": 16, "h": 16},
            "rotated": False,
            "trimmed": False,
            "spriteSourceSize": {"x": 0, "y": 0, "w": 16, "h": 16},
            "sourceSize": {"w": 16, "h": 16},
            "duration": 100,
        }
    ],
    "meta": {
        "app": "http://www.aseprite.org/",
        "version": "1.3.18-x64",
        "image": "hero.png",
        "format": "RGBA8888",
        "size": {"w": 16, "h": 16},
        "scale": "1",
        "frameTags": [{"name": "walk", "from": 0, "to": 0, "direction": "forward", "color": "#000000ff"}],
        "layers": [{"name": "Layer 1", "opacity": 255, "blendMode": "normal"}],
        "slices": [],
    },
}


def same_shape(ours: Any, theirs: Any, path: str = "") -> None:
    """The same keys in the same order, the same types, down to the leaves (lists: each item against theirs[0])."""
    assert type(ours) is type(theirs), path
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), path
        for key in theirs:
            same_shape(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list) and theirs:
        for i, item in enumerate(ours):
            same_shape(item, theirs[0], f"{path}[{i}]")


def test_atlas_has_aseprites_fields_order_and_types(files: Any) -> None:
    atlas = files.atlas
    same_shape(atlas, ASEPRITE_EXPORT)
    assert len(atlas["frames"]) == 8  # missing frames kept: 4 + 3 + 1
    for k, frame in enumerate(atlas["frames"]):
        assert frame["filename"] == str(k)  # --filename-format "{frame}", what Phaser's createFromAseprite needs
        assert frame["rotated"] is False and frame["trimmed"] is False
        assert frame["spriteSourceSize"] == {"x": 0, "y": 0, "w": 4, "h": 3}
        assert frame["sourceSize"] == {"w": 4, "h": 3}
        assert frame["duration"] == 100
    cells = [(f["frame"]["x"], f["frame"]["y"], f["frame"]["w"], f["frame"]["h"]) for f in atlas["frames"]]
    down, walk, idle = [(x, 0) for x in (0, 4, 8, 12)], [(x, 3) for x in (0, 4, 8)], [(0, 6)]
    assert cells == [(x, y, 4, 3) for x, y in down + walk + idle]
    meta = atlas["meta"]
    assert meta["app"] == ASEPRITE_APP == "http://www.aseprite.org/"
    assert (meta["image"], meta["format"], meta["size"], meta["scale"]) == (
        "sheet.png",
        "RGBA8888",
        {"w": 16, "h": 9},
        "1",
    )
    assert [(t["name"], t["from"], t["to"], t["direction"]) for t in meta["frameTags"]] == [
        ("down", 0, 3, "forward"),
        ("walk", 4, 6, "forward"),
        ("idle", 7, 7, "forward"),
    ]
    assert meta["slices"] == [] and len(meta["layers"]) == 1


def test_atlas_json_bytes(files: Any) -> None:
    data = atlas_json(files.atlas)
    assert data.endswith(b"}\n") and data.count(b"\n") > 20  # indented
    assert json.loads(data.decode("utf-8")) == files.atlas
    assert list(json.loads(data)["meta"]) == list(ASEPRITE_EXPORT["meta"])  # order kept on disk


def test_filename_format_placeholders() -> None:
    atlas = build_sheet(ROWS[:2], CELL, filename_format="{title} #{tag} {tagframe}.{extension} ({frame})").atlas
    names = [f["filename"] for f in atlas["frames"]]
    assert names[:5] == [f"sheet #down {i}.png ({i})" for i in range(4)] + ["sheet #walk 0.png (4)"]
    aseprite_default = build_sheet(ROWS[:1], CELL, image_name="hero.png", filename_format="{title} {frame}.{extension}")
    assert aseprite_default.atlas["frames"][1]["filename"] == "hero 1.png"
    with pytest.raises(SpriteError) as e:
        build_sheet(ROWS, CELL, filename_format="{tag}")
    assert e.value.code == "invalid_sheet"


# ---- Phaser reads the atlas --------------------------------------------------------------------------------------

PHASER_SCRIPT = r"""
// Phaser's own code for an Aseprite atlas: its JSON-array parser on a Texture (what this.load.aseprite ends in,
// through TextureManager.addAtlas) and AnimationManager.createFromAseprite. TextureManager itself wants a browser,
// so the animations get a stand-in with its getFrame (the texture's frame of that name).
const path = require('path');
globalThis.window = globalThis;
globalThis.HTMLCanvasElement = class {};
globalThis.HTMLVideoElement = class {};
const src = path.join(process.argv[2], 'phaser', 'src');
const Texture = require(path.join(src, 'textures', 'Texture.js'));
const JSONArray = require(path.join(src, 'textures', 'parsers', 'JSONArray.js'));
const AnimationManager = require(path.join(src, 'animations', 'AnimationManager.js'));
const results = JSON.parse(require('fs').readFileSync(0, 'utf8')).map((json, n) => {
  const key = 'sheet' + n;
  const game = { renderer: null, config: {}, cache: { json: { get: (k) => (k === key ? json : undefined) } },
                 events: { once() {}, on() {} } };
  const list = {};
  const textures = { game, list, getFrame: (k, frame) => (list[k] ? list[k].get(frame) : undefined) };
  const { w, h } = json.meta.size;
  const texture = (list[key] = new Texture(textures, key, { width: w, height: h }, w, h));
  JSONArray(texture, 0, json);
  const anims = new AnimationManager(game);
  anims.textureManager = textures;
  return {
    frames: texture.getFrameNames().map((name) => {
      const f = texture.get(name);
      return { name, x: f.cutX, y: f.cutY, w: f.cutWidth, h: f.cutHeight, trimmed: f.trimmed,
               duration: f.customData.duration };
    }),
    meta: texture.customData.meta,
    anims: anims.createFromAseprite(key).map((a) => ({
      key: a.key, duration: a.duration, yoyo: a.yoyo,
      frames: a.frames.map((f) => ({ name: f.frame.name, duration: f.duration })),
    })),
  };
});
process.stdout.write(JSON.stringify(results));
"""


def phaser_modules() -> Path:
    modules = Path(os.environ.get("PIXFLOW_NODE_MODULES", REPO / ".cache" / "node" / "node_modules"))
    if shutil.which("node") and (modules / "phaser" / "src" / "animations" / "AnimationManager.js").is_file():
        return modules
    message = (
        f"Phaser not found under {modules}: npm install --prefix .cache/node --no-save --no-package-lock "
        f"--no-audit --no-fund phaser@{PHASER_VERSION}"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def read_with_phaser(atlases: list[dict[str, Any]], tmp_path: Path) -> list[dict[str, Any]]:
    modules = phaser_modules()
    script = tmp_path / "read_atlas.js"
    script.write_text(PHASER_SCRIPT)
    stdin = "[" + ",".join(atlas_json(atlas).decode() for atlas in atlases) + "]"
    done = subprocess.run(
        ["node", str(script), str(modules)], input=stdin, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def test_phaser_reads_the_atlas(files: Any, tmp_path: Path) -> None:
    aseprite_names = build_sheet(ROWS, CELL, filename_format="{title} {frame}.{extension}").atlas
    ours, default_names = read_with_phaser([files.atlas, aseprite_names], tmp_path)
    frames = {f["name"]: f for f in ours["frames"]}
    assert sorted(frames, key=int) == [str(k) for k in range(8)]
    for k, frame in enumerate(files.atlas["frames"]):
        rect = frame["frame"]
        got = frames[str(k)]
        assert (got["x"], got["y"], got["w"], got["h"]) == (rect["x"], rect["y"], rect["w"], rect["h"])
        assert got["trimmed"] is False and got["duration"] == 100
    assert ours["meta"] == files.atlas["meta"]
    assert [(a["key"], [f["name"] for f in a["frames"]]) for a in ours["anims"]] == [
        ("down", ["0", "1", "2", "3"]),
        ("walk", ["4", "5", "6"]),
        ("idle", ["7"]),
    ]
    assert all(f["duration"] == 100 for a in ours["anims"] for f in a["frames"])
    assert [a["duration"] for a in ours["anims"]] == [400, 300, 100]
    # Aseprite's default names: Phaser parses the frames, but finds no frame "1", "2"... for its animations and
    # falls back to the first: every animation is frame 0 over and over.
    assert {f["name"] for f in default_names["frames"]} >= {"sheet 0.png", "sheet 7.png"}
    assert {f["name"] for a in default_names["anims"] for f in a["frames"]} == {"sheet 0.png"}


# ---- GIF previews ------------------------------------------------------------------------------------------------


def gif_frames(data: bytes) -> tuple[list[np.ndarray], list[Any], Any]:
    with Image.open(io.BytesIO(data)) as gif:
        assert gif.format == "GIF"
        loop = gif.info.get("loop")
        frames, durations = [], []
        for k in range(gif.n_frames):
            gif.seek(k)
            durations.append(gif.info.get("duration"))
            frames.append(np.asarray(gif.convert("RGBA")))
    return frames, durations, loop


def test_previews(files: Any) -> None:
    assert set(files.previews) == {"down", "walk"}  # idle has no frame
    for name, present in (("down", [FRAMES[0, i] for i in range(4)]), ("walk", [FRAMES[1, 0], FRAMES[1, 2]])):
        frames, durations, loop = gif_frames(files.previews[name])
        assert loop == 0  # forever
        assert durations == [100] * len(present)
        assert len(frames) == len(present)
        for got, expected in zip(frames, present, strict=True):
            assert set(np.unique(got[..., 3])) <= {0, 255}  # hard
            assert np.array_equal(got[..., 3], expected[..., 3])
            opaque = expected[..., 3] == 255
            assert np.array_equal(got[..., :3][opaque], expected[..., :3][opaque])  # exact colours


def test_preview_scale_and_duration() -> None:
    rows = [SheetRow("walk", tuple(png(FRAMES[1, i]) for i in range(3)))]
    previews = build_sheet(rows, CELL, preview_scale=3, duration_ms=250).previews
    frames, durations, _ = gif_frames(previews["walk"])
    assert durations == [250] * 3
    for got, i in zip(frames, range(3), strict=True):
        expected = np.repeat(np.repeat(FRAMES[1, i], 3, axis=0), 3, axis=1)
        assert got.shape == (9, 12, 4)
        assert np.array_equal(got[..., 3], expected[..., 3])
        assert np.array_equal(got[expected[..., 3] == 255], expected[expected[..., 3] == 255])
    _, durations, _ = gif_frames(build_sheet(rows, CELL, duration_ms=5).previews["walk"])
    assert durations == [20] * 3  # at least 20 ms: browsers slow shorter delays to 100 ms


def test_preview_of_many_colours_is_quantised() -> None:
    pixels = np.zeros((20, 20, 4), dtype=np.uint8)
    pixels[..., 0] = np.arange(400).reshape(20, 20) % 256
    pixels[..., 1] = np.arange(400).reshape(20, 20) // 256 * 100
    pixels[..., 3] = 255
    pixels[0, :5] = 0
    files = build_sheet([SheetRow("many", (png(pixels),))], (20, 20))
    (got,), _, _ = gif_frames(files.previews["many"])
    assert np.array_equal(got[..., 3], pixels[..., 3])
    assert np.abs(got[..., :3].astype(int) - pixels[..., :3]).max() < 16
    assert np.array_equal(decode(files.sheet_png), pixels)  # the sheet keeps every colour


def test_preview_of_equal_and_empty_frames() -> None:
    empty, full = np.zeros((3, 4, 4), dtype=np.uint8), np.full((3, 4, 4), 255, dtype=np.uint8)
    rows = [SheetRow("blink", tuple(png(p) for p in (empty, full, full, empty)))]
    frames, durations, loop = gif_frames(build_sheet(rows, CELL).previews["blink"])
    assert loop == 0
    assert durations == [100, 200, 100]  # Pillow writes two equal frames in a row as one of both durations
    assert [int(f[..., 3].max()) for f in frames] == [0, 255, 0]
    assert np.array_equal(frames[1], full)


# ---- errors ------------------------------------------------------------------------------------------------------


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", CELL).save(out, format="JPEG")
    return out.getvalue()


OK = png(FRAMES[0, 0])


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds no pixel: Pillow refuses to open one too large."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


@pytest.mark.parametrize(
    ("rows", "cell", "options"),
    [
        ([], CELL, {}),
        ([SheetRow("down", ())], CELL, {}),
        ([SheetRow("down", (OK,)), SheetRow("down", (OK,))], CELL, {}),
        ([SheetRow("Down", (OK,)), SheetRow("down", (OK,))], CELL, {}),
        ([SheetRow("", (OK,))], CELL, {}),
        *[
            ([SheetRow(name, (OK,))], CELL, {})
            for name in ("../up", "a/b", "a\\b", ".hidden", "up.", "a b", "con", "NUL.x", "lpt1", "x" * 65, "é")
        ],
        ([SheetRow("down", (OK,))], (0, 3), {}),
        ([SheetRow("down", (OK,))], (4, -1), {}),
        ([SheetRow("down", (OK,))], (4.0, 3), {}),
        ([SheetRow("down", (OK,))], CELL, {"duration_ms": 0}),
        ([SheetRow("down", (OK,))], CELL, {"duration_ms": 65536}),
        ([SheetRow("down", (OK,))], CELL, {"duration_ms": True}),
        ([SheetRow("down", (OK,))], CELL, {"preview_scale": 0}),
        ([SheetRow("down", (OK,))], CELL, {"image_name": "../sheet.png"}),
        ([SheetRow("down", (OK,))], CELL, {"filename_format": ""}),
        ([SheetRow("down", (None,) * 20000)], CELL, {}),  # 80000 px wide
    ],
)
def test_invalid_sheet(rows: list[SheetRow], cell: Any, options: dict[str, Any]) -> None:
    with pytest.raises(SpriteError) as e:
        build_sheet(rows, cell, **options)
    assert e.value.code == "invalid_sheet"
    assert e.value.message


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (jpeg(), "not_an_image"),
        (b"not an image", "not_an_image"),
        (OK[:40], "not_an_image"),  # truncated
        ("a str", "not_an_image"),
        (png(frame_pixels(1, (5, 3))), "wrong_size"),
        (png(frame_pixels(1, (4, 4))), "wrong_size"),
        (png_header_only(30000, 30000), "wrong_size"),
        (png_header_only(*CELL), "not_an_image"),  # no pixel data
    ],
)
def test_bad_frame(frame: Any, code: str) -> None:
    rows = [SheetRow("down", (OK,)), SheetRow("walk", (OK, None, frame))]
    with pytest.raises(SpriteError) as e:
        build_sheet(rows, CELL)
    assert e.value.code == code
    assert "frame 2 of row 'walk'" in e.value.message


def test_file_names() -> None:
    assert dict(SHEET_FILE_NAMES) == {
        "sheet_png": "sheet.png",
        "atlas": "sheet.json",
        "previews": "{row}.gif",
        "aseprite": "sheet.aseprite",
    }


# ---- any layout --------------------------------------------------------------------------------------------------

LAYOUTS = st.lists(st.lists(st.booleans(), min_size=1, max_size=4), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layout=LAYOUTS, w=st.integers(1, 5), h=st.integers(1, 5))
def test_any_layout(layout: list[list[bool]], w: int, h: int) -> None:
    pixels = {(r, i): frame_pixels(r * 7 + i, (w, h)) for r, row in enumerate(layout) for i in range(len(row))}
    rows = [
        SheetRow(f"row{r}", tuple(png(pixels[r, i]) if present else None for i, present in enumerate(row)))
        for r, row in enumerate(layout)
    ]
    files = build_sheet(rows, (w, h))
    sheet = decode(files.sheet_png)
    assert sheet.shape == (h * len(layout), w * max(map(len, layout)), 4)
    frames, tags = files.atlas["frames"], files.atlas["meta"]["frameTags"]
    assert len(frames) == sum(map(len, layout)) and len(tags) == len(layout)
    k = 0
    for r, row in enumerate(layout):
        assert (tags[r]["name"], tags[r]["from"], tags[r]["to"]) == (f"row{r}", k, k + len(row) - 1)
        for i, present in enumerate(row):
            x, y = frames[k]["frame"]["x"], frames[k]["frame"]["y"]
            assert (x, y) == (i * w, r * h)
            cell = sheet[y : y + h, x : x + w]
            assert np.array_equal(cell, pixels[r, i]) if present else not cell.any()
            k += 1
    assert files.missing == tuple((f"row{r}", i) for r, row in enumerate(layout) for i, p in enumerate(row) if not p)
    assert set(files.previews) == {f"row{r}" for r, row in enumerate(layout) if any(row)}
