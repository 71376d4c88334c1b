"""A sprite sheet on a real ComfyUI: 2 rows x 3 frames, one palette, the sheet PNG, its atlas and a GIF per row."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from pixflow.vocabulary import TOPIC_GROUP_DONE
from tests.e2e.e2e_helpers import JOB_TIMEOUT, unique_prompt

PICO_8_BLACK = (0, 0, 0)


def test_a_two_by_three_sheet_is_made_with_its_atlas_and_previews(e2e_worker):
    client = e2e_worker().client()
    client.subscribe(f"{TOPIC_GROUP_DONE}e2e-sheet")
    client.wait_subscribed()
    rows = [{"name": "idle", "prompt": "standing"}, {"name": "walk", "prompt": "walking"}]
    params = {"grid": 16, "grid_mode": "override", "background": "none"}  # the tiny model draws no grid
    group = client.sheet(
        unique_prompt("sheet"),
        group_id="e2e-sheet",
        rows=rows,
        frames=3,
        cell=[24, 20],
        palette="pico-8",
        size=[64, 64],
        steps=3,
        seed=11,
        params=params,
    )
    assert group["job_ids"] == [f"e2e-sheet-{n}" for n in range(1, 7)]
    _, done = client.next_event(6 * JOB_TIMEOUT, want=lambda topic, _: topic == f"{TOPIC_GROUP_DONE}e2e-sheet")
    assert done["done"] == 6, done
    files = done["sprite_sheet"]
    assert files["missing"] == [] and files["cell"] == [24, 20]
    with Image.open(files["sheet"]) as sheet:
        assert sheet.size == (3 * 24, 2 * 20) and sheet.mode == "RGBA"
        colours = {colour[:3] for _, colour in sheet.getcolors(1 << 16) or []}
    pico_8 = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in files["palette"]}
    assert len(files["palette"]) == 16 and PICO_8_BLACK in pico_8 and colours <= pico_8 | {(0, 0, 0)}
    atlas = json.loads(Path(files["atlas"]).read_text())
    assert [frame["frame"] for frame in atlas["frames"]] == [
        {"x": x * 24, "y": y * 20, "w": 24, "h": 20} for y in range(2) for x in range(3)
    ]
    tags = [(tag["name"], tag["from"], tag["to"]) for tag in atlas["meta"]["frameTags"]]
    assert tags == [("idle", 0, 2), ("walk", 3, 5)] and atlas["meta"]["size"] == {"w": 72, "h": 40}
    for row in ("idle", "walk"):
        with Image.open(files["previews"][row]) as gif:
            # Pillow writes equal frames in a row as one longer frame: the tiny model's may all be alike
            assert gif.format == "GIF" and 1 <= gif.n_frames <= 3 and gif.size == (24, 20)
    fetched = client.fetch_sheet_file("e2e-sheet", "atlas")
    assert json.loads(fetched["image"]) == atlas
    jobs = {job["job_id"]: job for job in client.call("group", group_id="e2e-sheet")["jobs"]}
    first = jobs["e2e-sheet-1"]["outputs"][0]
    with Image.open(io.BytesIO(client.fetch_output("e2e-sheet-1", variant="raw")["image"])) as raw:
        assert raw.size == (64, 64) and Path(first["raw_path"]).exists()
