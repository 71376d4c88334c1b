"""`pixflow sprite IN OUT` as a user runs it: the real command on a synthetic image (pixflow/cli/sprite_cmd.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixflow.sprites import PALETTES
from pixflow.sprites.synthetic import background_for, fake_pixel_art, make_sprite

PIXFLOW = [sys.executable, "-m", "pixflow", "sprite"]


def _run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PIXFLOW, *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(4)
    palette = PALETTES["gameboy"]
    sprite = make_sprite(rng, 16, palette, True)
    image = fake_pixel_art(
        sprite, rng, scale=10.4, phase=(3.0, 1.0), blur=1.0, noise=5.0, jpeg_quality=85,
        background=background_for(palette),
    )  # fmt: skip
    path = tmp_path_factory.mktemp("sprite") / "fake.jpg"
    Image.fromarray(image).save(path, "JPEG", quality=90)
    return path


def test_a_sprite_with_a_palette_file_an_outline_a_cell_a_record_and_a_scaled_copy(fake: Path, tmp_path: Path) -> None:
    palette = tmp_path / "gb.gpl"
    palette.write_text("GIMP Palette\nName: gb\n8 24 32\n52 104 86\n136 192 112\n224 248 208\n")
    out, record = tmp_path / "out.png", tmp_path / "record.json"
    done = _run(fake, out, "--palette", palette, "--outline", "--cell", "24x24", "--anchor", "bottom",
                "--record", record, "--scale", "3")  # fmt: skip
    assert done.returncode == 0, done.stderr
    image = np.asarray(Image.open(out))
    assert image.shape == (24, 24, 4) and set(np.unique(image[..., 3])) <= {0, 255}
    assert image[-1, :, 3].any()  # bottom-anchored: the outline's feet on the last row
    assert Image.open(tmp_path / "out@3x.png").size == (72, 72)
    written = json.loads(record.read_text())
    assert written["palette"] == ["#081820", "#346856", "#88c070", "#e0f8d0"]
    assert [r["step"] for r in written["records"]] == ["grid", "alpha", "palette", "outline", "cell"]
    assert written["records"][0]["found"]["size"] == [16, 16]


def test_an_image_as_palette_and_no_outline_by_default(fake: Path, tmp_path: Path) -> None:
    reference = tmp_path / "ref.png"
    Image.fromarray(np.array([[(0, 0, 0), (255, 255, 255)]], np.uint8)).save(reference)
    record = tmp_path / "r.json"
    done = _run(fake, tmp_path / "o.png", "--palette", reference, "--record", record, "--no-trim")
    assert done.returncode == 0, done.stderr
    written = json.loads(record.read_text())
    assert set(written["palette"]) == {"#000000", "#ffffff"}
    assert "outline" not in [r["step"] for r in written["records"]]
    assert written["width"] == 16


def test_list_palettes_needs_no_files() -> None:
    done = _run("--list-palettes")
    assert done.returncode == 0
    assert "pico-8" in done.stdout and "55" in done.stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["missing.png", "out.png"], "not_an_image"),
        (["{bad_image}", "out.png"], "not_an_image"),
        (["{fake}", "out.png", "--palette", "{bad_palette}"], "invalid_palette"),
        (["{fake}", "out.png", "--method", "mode"], "invalid_param"),
        (["{fake}", "out.png", "--grid", "32"], "invalid_param"),
        (["{fake}", "out.png", "--cell", "4x4"], "does_not_fit"),
    ],
)
def test_bad_input_is_one_line_and_status_2(fake: Path, tmp_path: Path, args: list[str], code: str) -> None:
    (tmp_path / "bad.png").write_bytes(b"no image at all")
    (tmp_path / "bad.hex").write_text("ff0000\nnot a colour\n")
    names = {"fake": fake, "bad_image": tmp_path / "bad.png", "bad_palette": tmp_path / "bad.hex"}
    filled = [a.format(**names) if "{" in a else str(tmp_path / a) if a.endswith(".png") else a for a in args]
    done = _run(*filled)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {code}: "), done.stderr
    if code == "invalid_palette":
        assert "line 2" in lines[0]
