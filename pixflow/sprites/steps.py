"""The sprite steps and their parameters, declared as data: the one list that the runner, a workflow's `post:`
list, the worker's parameter checks, the CLI's options and the docs all read, so they cannot drift apart.

Kinds are the workflows' vocabulary (INT, FLOAT, BOOLEAN, STRING, COMBO). Steps always run in STEPS order (grid,
alpha, palette, outline, cell): each needs what the one before made (cells before a background cut, the cut
before the palette sees only the sprite's colours, the palette before the outline takes its darkest colour).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pixflow.errors import SpriteError
from pixflow.sprites.palette import MAX_TEXT, hex_to_rgb, parse_hex_list, parse_palette_text
from pixflow.sprites.palettes import PALETTES

_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")
MAX_CELL = 4096  # a placed sprite's side, pixels


@dataclass(frozen=True)
class StepParam:
    step: str
    name: str
    kind: str  # "INT" | "FLOAT" | "BOOLEAN" | "STRING" | "COMBO"
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None

    @property
    def key(self) -> str:
        return f"{self.step}.{self.name}"


STEPS: dict[str, tuple[StepParam, ...]] = {
    "grid": (
        StepParam("grid", "size", "STRING", "auto", '"auto" or the sprite\'s size in cells, "WxH" (e.g. "32x32")'),
        StepParam("grid", "cell_px", "FLOAT", 0.0, "0 (auto) or a cell's size in source pixels", 0, 256),
        StepParam(
            "grid", "given", "COMBO", "fallback", "how a given size/cell_px is used: as is (override), or only when "
            "detection finds no clear grid (fallback)", choices=("fallback", "override"),
        ),
        StepParam(
            "grid", "method", "COMBO", "majority", "a cell's colour: its majority, k-centroid or median",
            choices=("majority", "k-centroid", "median"),
        ),
    ),
    "alpha": (
        StepParam(
            "alpha", "mode", "COMBO", "border", "background to transparency: none, a flood fill from the border, "
            "or every cell of the key colour", choices=("none", "border", "key"),
        ),
        StepParam("alpha", "tolerance", "FLOAT", 8.0, "distance in OKLab x 100 from the background colour", 0, 100),
        StepParam("alpha", "key", "STRING", "auto", '"auto" (the border\'s commonest colour) or "#rrggbb"'),
    ),
    "palette": (
        StepParam(
            "palette", "palette", "STRING", "adaptive", "a shipped palette (" + ", ".join(PALETTES) + '), "adaptive"'
            ', "none", "image:NAME", "#rrggbb #rrggbb ..." or the text of a .hex, .gpl or .pal file',
        ),
        StepParam("palette", "colors", "INT", 16, "colours of an adaptive or image palette", 2, 256),
        StepParam(
            "palette", "dither", "COMBO", "none", "none, or ordered (4x4 Bayer between the two nearest colours)",
            choices=("none", "ordered"),
        ),
    ),
    "outline": (
        StepParam("outline", "enabled", "BOOLEAN", True, "draw a one-pixel outline around the sprite"),
        StepParam("outline", "colour", "STRING", "darkest", '"darkest" (the palette\'s darkest colour) or "#rrggbb"'),
    ),
    "cell": (
        StepParam("cell", "size", "STRING", "auto", '"auto" (the sprite as it is) or a cell of "WxH" pixels'),
        StepParam("cell", "trim", "BOOLEAN", True, "crop to the opaque bounding box first"),
        StepParam(
            "cell", "anchor", "COMBO", "center", "center, or bottom (centred, feet on the bottom row)",
            choices=("center", "bottom"),
        ),
    ),
}  # fmt: skip

STEP_PARAMS: dict[str, StepParam] = {param.key: param for params in STEPS.values() for param in params}  # by key

STEP_DESCRIPTIONS: dict[str, str] = {
    "grid": "find the fake pixels' grid (size and phase) and give each cell one colour",
    "alpha": "turn the plain background into hard transparency",
    "palette": "map the colours to a palette (shipped, adaptive, from an image or a file), optionally dithered",
    "outline": "draw a one-pixel outline around the sprite",
    "cell": "trim to the sprite and place it in a fixed cell",
}


def parse_size(text: str) -> tuple[int, int] | None:
    """(w, h) of "WxH", None for "auto"; ValueError for anything else."""
    if text.strip().lower() == "auto":
        return None
    match = _SIZE.match(text)
    if match is None or not all(int(side) > 0 for side in match.groups()):
        raise ValueError(text)
    return int(match.group(1)), int(match.group(2))


def check_value(param: StepParam, value: Any) -> Any:
    """The value checked and normalised, or SpriteError("invalid_param") naming step.param, the value and what
    is allowed (SpriteError("invalid_palette") for a palette text that cannot be read)."""
    if param.kind == "BOOLEAN":
        if not isinstance(value, bool):
            raise _invalid(param, value, "true or false")
        return value
    if param.kind in ("INT", "FLOAT"):
        return _number(param, value)
    if param.key in ("grid.size", "cell.size") and isinstance(value, int) and not isinstance(value, bool):
        value = f"{value}x{value}"  # a side: what a workflow's INT parameter (`grid: 32`) sends
    if not isinstance(value, str):
        raise _invalid(param, value, "a string")
    if param.kind == "COMBO":
        if value not in (param.choices or ()):
            raise _invalid(param, value, "one of " + ", ".join(param.choices or ()))
        return value
    return _string(param, value)


def _number(param: StepParam, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid(param, value, "a whole number" if param.kind == "INT" else "a number")
    if param.kind == "INT" and value != int(value):
        raise _invalid(param, value, "a whole number")
    low, high = param.minimum, param.maximum
    if param.key == "grid.cell_px" and 0 < value < 1:
        raise _invalid(param, value, "0 (auto) or 1 to 256")
    if (low is not None and value < low) or (high is not None and value > high):
        raise _invalid(param, value, f"{low:g} to {high:g}")
    return int(value) if param.kind == "INT" else float(value)


def _string(param: StepParam, value: str) -> str:
    if param.key in ("grid.size", "cell.size"):
        try:
            size = parse_size(value)
        except ValueError:
            raise _invalid(param, value, '"auto" or "WxH" in whole numbers above 0') from None
        if size is not None and max(size) > MAX_CELL:
            raise _invalid(param, value, f"sides up to {MAX_CELL}")
        return "auto" if size is None else f"{size[0]}x{size[1]}"
    if param.key in ("alpha.key", "outline.colour"):
        word = "auto" if param.key == "alpha.key" else "darkest"
        if value.strip().lower() == word:
            return word
        if not value.strip().startswith("#") or hex_to_rgb(value) is None:
            raise _invalid(param, value, f'"{word}" or "#rrggbb"')
        return value.strip().lower()
    return _palette_value(param, value)


def _palette_value(param: StepParam, value: str) -> str:
    if len(value.encode("utf-8", "replace")) > MAX_TEXT:
        raise _invalid(param, f"<{len(value)} characters>", f"texts up to {MAX_TEXT // 1024} KiB")
    if "\n" in value:
        parse_palette_text(value)  # raises invalid_palette, with the line
        return value
    word = value.strip()
    if word in PALETTES or word in ("adaptive", "none"):
        return word
    if word.startswith("image:") and len(word) > len("image:"):
        return word
    tokens = [t for t in re.split(r"[\s,]+", word) if t]
    if tokens and all(hex_to_rgb(t) is not None for t in tokens):
        parse_hex_list(word)
        return word
    allowed = ", ".join(PALETTES) + ', "adaptive", "none", "image:NAME", "#rrggbb ..." or a palette file\'s text'
    raise _invalid(param, value, allowed)


def _invalid(param: StepParam, value: Any, allowed: str) -> SpriteError:
    shown = value if not isinstance(value, str) or len(value) <= 60 else value[:57] + "..."
    return SpriteError("invalid_param", f"{param.key}: {shown!r} is not allowed: {allowed}")


@dataclass(frozen=True)
class Step:
    name: str
    params: Mapping[str, Any]  # every parameter of the step, defaults filled in, checked


@dataclass(frozen=True)
class Pipeline:
    steps: tuple[Step, ...]

    def params(self) -> tuple[StepParam, ...]:
        return tuple(param for step in self.steps for param in STEPS[step.name])

    def with_values(self, values: Mapping[str, Any]) -> Pipeline:
        """The pipeline with values for "step.param" keys; an unknown key or a step not in the pipeline is
        SpriteError("invalid_param")."""
        present = {step.name: dict(step.params) for step in self.steps}
        for key, value in values.items():
            step, _, name = str(key).partition(".")
            param = next((p for p in STEPS.get(step, ()) if p.name == name), None)
            if param is None:
                raise SpriteError("invalid_param", f"{key!r} is no sprite parameter: {_known_keys()}")
            if step not in present:
                raise SpriteError("invalid_param", f"{key}: the pipeline has no {step} step")
            present[step][name] = check_value(param, value)
        return Pipeline(tuple(Step(name, params) for name, params in present.items()))

    def describe(self) -> list[dict[str, Any]]:
        return [{"step": step.name, **step.params} for step in self.steps]


def _known_keys() -> str:
    return ", ".join(p.key for params in STEPS.values() for p in params)


def parse_pipeline(spec: object) -> Pipeline:
    """A workflow's `post:` list: items are a step name ("alpha") or a one-key mapping of a step to its
    parameters ({"palette": {"palette": "pico-8"}}), in STEPS order, each at most once."""
    if not isinstance(spec, list | tuple):
        raise SpriteError("invalid_step", f"post: must be a list of steps, not {type(spec).__name__}")
    order = list(STEPS)
    steps: list[Step] = []
    for number, item in enumerate(spec, 1):
        name, given = _item(number, item)
        if steps and order.index(name) <= order.index(steps[-1].name):
            problem = "twice" if name == steps[-1].name or name in {s.name for s in steps} else "out of order"
            raise SpriteError("invalid_step", f"post item {number} ({name}): {problem}; steps run as {order}")
        params = {param.name: param.default for param in STEPS[name]}
        for key, value in given.items():
            param = next((p for p in STEPS[name] if p.name == key), None)
            if param is None:
                known = ", ".join(p.name for p in STEPS[name])
                raise SpriteError("invalid_param", f"{name}.{key} is no parameter of {name}: {known}")
            params[key] = check_value(param, value)
        steps.append(Step(name, params))
    return Pipeline(tuple(steps))


def _item(number: int, item: object) -> tuple[str, Mapping[str, Any]]:
    given: Mapping[str, Any] = {}
    if isinstance(item, str):
        name = item
    elif isinstance(item, Mapping) and len(item) == 1:
        name, value = next(iter(item.items()))
        if value is None:
            value = {}
        if not isinstance(name, str) or not isinstance(value, Mapping):
            raise SpriteError("invalid_step", f"post item {number} ({item!r}): a step maps to its parameters")
        given = value
    else:
        raise SpriteError("invalid_step", f"post item {number} ({item!r}): a step name or a one-key mapping")
    if name not in STEPS:
        raise SpriteError("invalid_step", f"post item {number}: {name!r} is no step: {', '.join(STEPS)}")
    return name, given
