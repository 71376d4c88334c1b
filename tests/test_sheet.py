"""`sheet`: a character's sprite sheet as a group on the replay ComfyUI, its files, a re-rolled frame, and refusals."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pixflow.client import Client, ClientError
from pixflow.sprites import PALETTES
from pixflow.testing import ThreadWorker
from pixflow.vocabulary import TOPIC_GROUP_DONE

ROWS = [{"name": "idle", "prompt": "standing"}, {"name": "walk", "prompt": "walking"}]
# The replay's pictures are smooth: the given grid, and every cell kept, make the sprites' sizes known.
EXACT = {"grid": 12, "grid_mode": "override", "background": "none"}
SMALL = {"size": [64, 64], "steps": 4, "seed": 5}
PICO_8 = {f"#{r:02x}{g:02x}{b:02x}" for r, g, b in PALETTES["pico-8"].colors}


def _sheet_done(client: Client, group_id: str, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Send the sheet (subscribed to its end first) and wait for its group.done."""
    client.subscribe(f"{TOPIC_GROUP_DONE}{group_id}")
    client.wait_subscribed()
    answer = client.sheet("pixel art knight", group_id=group_id, **{**SMALL, **fields})
    _, done = client.next_event(60, want=lambda topic, _: topic == f"{TOPIC_GROUP_DONE}{group_id}")
    return answer, done


def _colours(path: str) -> set[str]:
    with Image.open(path) as image:
        rgba = image.convert("RGBA")
        return {f"#{r:02x}{g:02x}{b:02x}" for _, (r, g, b, a) in rgba.getcolors(1 << 16) or [] if a}


def test_a_sheet_makes_a_job_per_cell_and_writes_the_sheet_atlas_and_previews(worker: ThreadWorker) -> None:
    client = worker.client()
    answer, done = _sheet_done(
        client, "knight", rows=ROWS, frames=3, cell=[16, 16], palette="pico-8", duration_ms=120, params=EXACT
    )
    assert answer["job_ids"] == [f"knight-{n}" for n in range(1, 7)] and answer["sprite_sheet"] is None
    sheets = [job["params"]["sheet"] for job in answer["jobs"]]
    assert [(s["row"], s["frame"]) for s in sheets] == [(r, f) for r in ("idle", "walk") for f in range(3)]
    assert [job["params"]["seed"] for job in answer["jobs"]] == [5, 6, 7, 5, 6, 7]  # a seed per column
    assert answer["jobs"][3]["params"]["prompt"] == "pixel art knight, walking"
    files = done["sprite_sheet"]
    assert done["done"] == 6 and files["missing"] == [] and files["cell"] == [16, 16]
    assert set(files["palette"]) == PICO_8
    folder = (worker.output_dir / "knight").resolve()
    assert Path(files["sheet"]) == folder / "sheet.png" and Path(files["atlas"]) == folder / "sheet.json"
    with Image.open(files["sheet"]) as sheet:
        assert sheet.size == (48, 32) and sheet.mode == "RGBA"
    assert _colours(files["sheet"]) <= PICO_8
    atlas = json.loads(Path(files["atlas"]).read_text())
    assert [f["filename"] for f in atlas["frames"]] == [str(n) for n in range(6)]
    assert atlas["frames"][4]["frame"] == {"x": 16, "y": 16, "w": 16, "h": 16}
    assert {f["duration"] for f in atlas["frames"]} == {120}
    tags = [(t["name"], t["from"], t["to"], t["direction"]) for t in atlas["meta"]["frameTags"]]
    assert tags == [("idle", 0, 2, "forward"), ("walk", 3, 5, "forward")]
    assert (atlas["meta"]["image"], atlas["meta"]["size"]) == ("sheet.png", {"w": 48, "h": 32})
    for row in ("idle", "walk"):
        with Image.open(files["previews"][row]) as gif:
            assert gif.format == "GIF" and gif.size == (16, 16)
    group = client.call("group", group_id="knight")
    assert group["finished"] and group["sprite_sheet"] == files
    # Every frame is a sprite of its own too, with its generation beside it.
    first = client.status("knight-1")["outputs"][0]
    assert (first["width"], first["height"]) == (16, 16) and Path(first["raw_path"]).exists()


def test_a_sheet_from_a_reference_image_with_one_seed(worker: ThreadWorker) -> None:
    client = worker.client()
    reference = io.BytesIO()
    Image.new("RGB", (48, 48), (30, 90, 200)).save(reference, format="PNG")
    answer, done = _sheet_done(
        client,
        "ref",
        rows=ROWS,
        frames=2,
        cell=[16, 16],
        seed_step=0,
        workflow="sprite_img2img",
        images={"reference": reference.getvalue()},
        params={**EXACT, "denoise": 0.4},
    )
    assert {job["params"]["seed"] for job in answer["jobs"]} == {5}
    assert all(set(job["params"]["images"]) == {"reference"} for job in answer["jobs"])
    assert done["done"] == 4 and done["sprite_sheet"]["missing"] == []


def test_a_sheets_files_are_fetched_over_the_wire(worker: ThreadWorker) -> None:
    client = worker.client()
    _, done = _sheet_done(client, "wire", rows=ROWS[:1], frames=2, cell=[16, 16], params=EXACT)
    files = done["sprite_sheet"]
    sheet = client.fetch_sheet_file("wire", "sheet")
    assert (sheet["name"], sheet["format"], sheet["image"]) == ("sheet.png", "png", Path(files["sheet"]).read_bytes())
    atlas = client.fetch_sheet_file("wire", "atlas")
    assert atlas["format"] == "json" and json.loads(atlas["image"])["meta"]["frameTags"][0]["name"] == "idle"
    preview = client.fetch_sheet_file("wire", "preview", row="idle")
    assert preview["format"] == "gif" and Image.open(io.BytesIO(preview["image"])).format == "GIF"
    raw = client.fetch_output("wire-1", variant="raw")
    assert raw["variant"] == "raw" and (raw["width"], raw["height"]) == (64, 64)
    assert client.fetch_output("wire-1")["variant"] == "final"
    refusals = [
        ({"group_id": "wire", "variant": "poster"}, "invalid_params"),
        ({"group_id": "wire", "variant": "preview"}, "invalid_params"),
        ({"group_id": "wire", "variant": "preview", "row": "jump"}, "not_found"),
        ({"group_id": "wire", "variant": "aseprite"}, "not_found"),
        ({"group_id": "nobody", "variant": "sheet"}, "not_found"),
        ({"job_id": "wire-1", "group_id": "wire"}, "invalid_params"),
        ({"job_id": "wire-1", "variant": "sheet"}, "invalid_params"),
    ]
    for fields, code in refusals:
        with pytest.raises(ClientError) as caught:
            client.call("fetch_output", **fields)
        assert caught.value.code == code, (fields, caught.value)


def test_without_a_palette_the_first_finished_frames_is_locked_for_the_sheet(worker: ThreadWorker) -> None:
    client = worker.client()
    _, done = _sheet_done(client, "locked", rows=ROWS, frames=2, cell=[16, 16], params={**EXACT, "colors": 4})
    files = done["sprite_sheet"]
    assert 1 <= len(files["palette"]) <= 4
    assert _colours(files["sheet"]) <= set(files["palette"])


def test_a_cancelled_frame_leaves_its_cell_empty_and_a_reroll_fills_it(worker: ThreadWorker) -> None:
    client = worker.client()
    client.call("pause")
    client.subscribe(f"{TOPIC_GROUP_DONE}gaps")
    client.wait_subscribed()
    client.sheet("pixel art knight", group_id="gaps", rows=ROWS[:1], frames=3, cell=[16, 16], params=EXACT, **SMALL)
    client.cancel("gaps-2")
    client.call("resume")
    _, done = client.next_event(60, want=lambda topic, _: topic == f"{TOPIC_GROUP_DONE}gaps")
    assert done["sprite_sheet"]["missing"] == [{"row": "idle", "frame": 1, "job_id": "gaps-2", "state": "cancelled"}]
    with Image.open(done["sprite_sheet"]["sheet"]) as sheet:
        assert sheet.getchannel("A").crop((16, 0, 32, 16)).getextrema() == (0, 0)  # the cancelled cell
    rerolled = client.retry("gaps-2", id="gaps-4", new_seed=True)
    assert (rerolled["job_id"], rerolled["retry_of"], rerolled["existing"]) == ("gaps-4", "gaps-2", False)
    assert client.status("gaps-4")["params"]["sheet"]["frame"] == 1
    _, again = client.next_event(60, want=lambda topic, _: topic == f"{TOPIC_GROUP_DONE}gaps")
    assert again["sprite_sheet"]["missing"] == [] and again["job_ids"][-1] == "gaps-4"
    with Image.open(again["sprite_sheet"]["sheet"]) as sheet:
        assert sheet.getchannel("A").crop((16, 0, 32, 16)).getextrema()[1] == 255  # a 12x12 sprite in its cell
    assert client.retry("gaps-2", id="gaps-4")["existing"] is True  # a known id answers that job
    named = client.call("retry", job_id="gaps-1")  # no id: the group's next `<group_id>-<n>`
    assert named["job_id"] == "gaps-5" and client.status("gaps-5")["group_id"] == "gaps"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "'rows' must be a list of 1 to 16 rows"),
        ({"rows": [{"name": "Walk"}]}, "'rows[0].name' must be 1-32 of a-z"),
        ({"rows": ["idle", "idle"]}, "'rows[1].name': 'idle' names two rows"),
        ({"rows": ["idle"], "frames": 0}, "'frames' must be a whole number from 1 to 16"),
        ({"rows": ["a", "b", "c", "d", "e"], "frames": 16}, "the sheet would have 80 jobs; the limit is 64"),
        ({"rows": ["idle"], "cell": [4, 4]}, "'cell' sides must be whole numbers from 8 to 512"),
        ({"rows": ["idle"], "seeds": [1, 2]}, "'seeds' is not a sheet field"),
        ({"rows": ["idle"], "workflow": "txt2img"}, "workflow 'txt2img' has no sprite cell step"),
        ({"rows": ["idle"], "palette": "no-such-palette"}, "'palette': "),
    ],
)
def test_a_bad_sheet_is_refused_whole(worker: ThreadWorker, fields: dict[str, Any], message: str) -> None:
    client = worker.client()
    with pytest.raises(ClientError) as caught:
        client.call("sheet", group_id="bad", prompt="knight", **fields)
    assert caught.value.code == "invalid_params" and caught.value.message.startswith(message), caught.value
    assert client.call("list_jobs", group_id="bad")["jobs"] == []


def test_retry_refuses_a_running_job_and_an_unknown_one(worker: ThreadWorker) -> None:
    client = worker.client()
    client.call("pause")
    client.generate("knight", id="waiting", workflow="sprite", **SMALL)
    for fields, code in (({"job_id": "waiting"}, "invalid_params"), ({"job_id": "nobody"}, "not_found")):
        with pytest.raises(ClientError) as caught:
            client.call("retry", **fields)
        assert caught.value.code == code
    with pytest.raises(ClientError, match="give 'seed' or 'new_seed', not both"):
        client.call("retry", job_id="waiting", seed=1, new_seed=True)


def test_pixflow_sheet_waits_downloads_the_files_and_reroll_makes_a_frame_again(
    worker: ThreadWorker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pixflow.cli.main import main

    addresses = ["--req-addr", worker.req, "--pub-addr", worker.pub]
    args = ["sheet", "pixel art knight", "--row", "idle=standing", "--frames", "2", "--cell", "16x16"]
    args += ["--size", "64x64", "--steps", "4", "--group-id", "cli-sheet", "--out", str(tmp_path / "got")]
    args += [arg for name, value in EXACT.items() for arg in ("--param", f"{name}={value}")]
    assert main([*args, *addresses]) == 0
    out = capsys.readouterr().out
    assert "sheet cli-sheet: cli-sheet-1 cli-sheet-2" in out and "downloaded" in out
    assert sorted(p.name for p in (tmp_path / "got").iterdir()) == ["idle.gif", "sheet.json", "sheet.png"]
    assert json.loads((tmp_path / "got" / "sheet.json").read_text())["meta"]["frameTags"][0]["name"] == "idle"
    assert main(["reroll", "cli-sheet-2", *addresses]) == 0
    new_id = capsys.readouterr().out.strip()
    job = worker.client().status(new_id)
    assert job["group_id"] == "cli-sheet" and job["params"]["sheet"]["frame"] == 1
