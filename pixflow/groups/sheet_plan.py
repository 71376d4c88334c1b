"""A `sheet` request, validated: a character's sprite sheet as a group of jobs, one per cell (docs/sprites.md).

Pure: no worker state. A sheet is rows (a direction or an animation each: a name and a prompt addition) of
`frames` frames, all in one cell size. Job `<group_id>-<n>` is row `(n-1) // frames`, frame `(n-1) % frames`, so
a client knows every frame's job before it sends the request. Every frame of a column shares a seed
(`seed + frame * seed_step`): the rows differ by their prompt alone, which keeps the character closer to itself
than fresh noise per cell would; `seed_step: 0` gives every frame the one seed, and a reference image (img2img,
`sprite_img2img`) sent with the sheet holds the character closer still.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, replace
from typing import Any

from pixflow.errors import ErrorCode, RequestError, SpriteError
from pixflow.groups.plan import group_job_id, parse_group_id
from pixflow.sprites import STEP_PARAMS, check_value
from pixflow.workflows.params import MAX_PROMPT_CHARS, MAX_SEED, GenerateParams, parse_generate

MAX_ROWS = 16
MAX_FRAMES = 16
MAX_ROW_PROMPT_CHARS = 1_000
MIN_CELL, MAX_CELL = 8, 512
DEFAULT_CELL = (64, 64)
DEFAULT_DURATION_MS = 100
DEFAULT_WORKFLOW = "sprite"
MAX_SEED_STEP = 1_000_000
ROW_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")  # an Aseprite tag and a file name (<row>.gif)
NOT_IN_SHEET = ("id", "models", "seeds")  # a sheet's job ids are derived; one model, seeds per frame


@dataclass(frozen=True)
class SheetRow:
    name: str
    prompt: str  # added to the subject for every frame of the row ("" adds nothing)


@dataclass(frozen=True)
class SheetPlan:
    group_id: str
    rows: tuple[SheetRow, ...]
    frames: int
    cell: tuple[int, int]
    palette: str | None  # locked for the whole sheet; None: taken from the first frame to finish
    duration_ms: int
    jobs: tuple[tuple[str, GenerateParams], ...]  # (job id, params), rows outer, frames inner

    @property
    def workflow(self) -> str:
        return self.jobs[0][1].workflow or DEFAULT_WORKFLOW


def _invalid(message: str) -> RequestError:
    return RequestError(ErrorCode.INVALID_PARAMS, message)


def _whole(message: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = message.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(f"'{name}' must be a whole number from {low} to {high}, got {value!r}")
    return value


def _rows(value: Any) -> tuple[SheetRow, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ROWS:
        raise _invalid(f"'rows' must be a list of 1 to {MAX_ROWS} rows, each {{name, prompt}}")
    rows: list[SheetRow] = []
    for index, entry in enumerate(value):
        entry = {"name": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, dict) or set(entry) - {"name", "prompt"}:
            raise _invalid(f"'rows[{index}]' must be a row name or a map {{name, prompt}}")
        name, prompt = entry.get("name"), entry.get("prompt", "")
        if not isinstance(name, str) or not ROW_NAME.match(name):
            raise _invalid(f"'rows[{index}].name' must be 1-32 of a-z, 0-9, _ and - (first a letter or digit)")
        if not isinstance(prompt, str) or len(prompt) > MAX_ROW_PROMPT_CHARS:
            raise _invalid(f"'rows[{index}].prompt' must be a string of at most {MAX_ROW_PROMPT_CHARS} characters")
        if any(row.name == name for row in rows):
            raise _invalid(f"'rows[{index}].name': {name!r} names two rows")
        rows.append(SheetRow(name, prompt.strip()))
    return tuple(rows)


def _cell(value: Any) -> tuple[int, int]:
    if value is None:
        return DEFAULT_CELL
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise _invalid("'cell' must be [width, height] in pixels")
    for side in value:
        if isinstance(side, bool) or not isinstance(side, int) or not MIN_CELL <= side <= MAX_CELL:
            raise _invalid(f"'cell' sides must be whole numbers from {MIN_CELL} to {MAX_CELL}, got {value!r}")
    return value[0], value[1]


def frame_prompt(subject: str, row: SheetRow) -> str:
    return f"{subject}, {row.prompt}" if row.prompt else subject


def parse_sheet(message: dict[str, Any], max_jobs: int, rng: random.Random | None = None) -> SheetPlan:
    """Validate the whole sheet before any job is made: a bad field rejects it whole."""
    for name in NOT_IN_SHEET:
        if message.get(name) is not None:
            raise _invalid(f"'{name}' is not a sheet field: a sheet's job ids are '<group_id>-<n>', seeds per frame")
    rows = _rows(message.get("rows"))
    frames = _whole(message, "frames", 4, 1, MAX_FRAMES)
    if len(rows) * frames > max_jobs:
        raise _invalid(f"the sheet would have {len(rows) * frames} jobs; the limit is {max_jobs} (max_group_jobs)")
    cell = _cell(message.get("cell"))
    palette = message.get("palette")
    if palette is not None:
        if not isinstance(palette, str) or not palette.strip():
            raise _invalid("'palette' must be a palette's name, its colours or a palette file's text")
        try:
            check_value(STEP_PARAMS["palette.palette"], palette)
        except SpriteError as e:
            raise _invalid(f"'palette': {e.message}") from e
    duration = _whole(message, "duration_ms", DEFAULT_DURATION_MS, 1, 65_535)
    seed_step = _whole(message, "seed_step", 1, 0, MAX_SEED_STEP)
    group_id = parse_group_id(message) or uuid.uuid4().hex
    base = parse_generate({**message, "workflow": message.get("workflow") or DEFAULT_WORKFLOW}, rng)
    longest = max(len(frame_prompt(base.prompt, row)) for row in rows)
    if longest > MAX_PROMPT_CHARS:
        raise _invalid(f"a frame's prompt would be {longest} characters; the limit is {MAX_PROMPT_CHARS}")
    names = [row.name for row in rows]
    jobs: list[tuple[str, GenerateParams]] = []
    for row_index, row in enumerate(rows):
        for frame in range(frames):
            sheet = {"row": row.name, "row_index": row_index, "frame": frame, "rows": names, "frames": frames}
            sheet |= {"cell": list(cell), "palette": palette, "duration_ms": duration}
            params = replace(
                base,
                prompt=frame_prompt(base.prompt, row),
                seed=(base.seed + frame * seed_step) % (MAX_SEED + 1),
                sheet=sheet,
            )
            jobs.append((group_job_id(group_id, len(jobs) + 1), params))
    return SheetPlan(group_id, rows, frames, cell, palette, duration, tuple(jobs))
