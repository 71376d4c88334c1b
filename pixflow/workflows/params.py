"""`generate` parameters: parsing and validation of what a client sends."""

from __future__ import annotations

import functools
import math
import random
import re
from dataclasses import dataclass, fields
from typing import Any

from pixflow.errors import ErrorCode, RequestError

MAX_PROMPT_CHARS = 10_000
MIN_SIDE, MAX_SIDE, SIDE_MULTIPLE = 16, 2048, 8
MAX_STEPS = 150
MAX_BATCH = 64
MAX_SEED = 2**64 - 1  # ComfyUI's KSampler accepts seeds up to 0xffffffffffffffff
JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
MAX_CUSTOM_PARAMS = 64
MAX_LORAS_PER_JOB = 8
# Fields of `generate` itself: no workflow's own parameter may take one of these names.
GENERATE_FIELDS = (
    "id",
    "prompt",
    "negative_prompt",
    "model",
    "size",
    "width",
    "height",
    "steps",
    "cfg_scale",
    "seed",
    "sampler",
    "scheduler",
    "batch_size",
    "workflow",
    "priority",
    "previews",
    "params",
    "images",
    "loras",
    "owner",
    "webhook",
)


@dataclass(frozen=True)
class GenerateParams:
    prompt: str
    model: str | None = None
    width: int = 512
    height: int = 512
    steps: int = 20
    cfg_scale: float = 7.0
    negative_prompt: str = ""
    seed: int = 0
    sampler: str = "euler"
    scheduler: str = "normal"
    batch_size: int = 1
    workflow: str | None = None
    priority: int = 0
    previews: bool = False
    owner: str | None = None  # the client key's name (set by the worker from CURVE, never read from the request)
    # The workflow's own parameters (`params` on the wire), validated against it (workflows/schema.py).
    custom: dict[str, Any] | None = None
    # Input images: name -> sha256, format, width, height, bytes, file (where pixflow keeps it), comfy_name.
    images: dict[str, dict[str, Any]] | None = None
    loras: list[dict[str, Any]] | None = None  # [{name, strength}], chained after the checkpoint loader
    # A frame of a `sheet` (groups/sheet_plan.py): its row and frame, and the sheet's rows, cell, palette, timing.
    sheet: dict[str, Any] | None = None
    # Where the job's state changes are delivered: {url, events: final | states} (pixflow/webhooks/, docs/webhooks.md).
    webhook: dict[str, str] | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> GenerateParams:
        """The inverse of to_wire, for values this module validated before (the job store)."""
        data = dict(data)
        data["width"], data["height"] = data.pop("size")
        data["custom"] = data.pop("params", None)
        return cls(**data)

    def to_wire(self) -> dict[str, Any]:
        """The parameters as a client sends them: a new dict each time, its values shared (never changed)."""
        return dict(self._wire)

    @functools.cached_property
    def _wire(self) -> dict[str, Any]:
        # Built once per job: the store, the creation event, every snapshot and the sidecar all need it.
        data = {f.name: getattr(self, f.name) for f in fields(self)}  # shallow: the values are never changed
        data["size"] = [data.pop("width"), data.pop("height")]
        data["params"] = data.pop("custom")
        # Only where a job has them: older messages stay the same.
        for key in ("params", "images", "loras", "sheet", "webhook"):
            if data[key] is None:
                del data[key]
        return data


def _fail(message: str) -> RequestError:
    return RequestError(ErrorCode.INVALID_PARAMS, message)


def _typed(message: dict[str, Any], name: str, kinds: type | tuple[type, ...], default: Any) -> Any:
    value = message.get(name, default)
    if value is None:
        return default
    # bool is an int in Python; on the wire they are different types.
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise _fail(f"'{name}' must be {_kind_names(kinds)}, got a boolean")
    if not isinstance(value, kinds):
        raise _fail(f"'{name}' must be {_kind_names(kinds)}, got {type(value).__name__}")
    return value


def _kind_names(kinds: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "a boolean", list: "a list"}
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def limit_text(value: float) -> str:
    """A limit as a person reads it: an integer exactly (a seed's 18446744073709551615, never 1.84467e+19), a
    float with an integral value without its `.0` (ComfyUI sends many integer limits as floats), other floats in
    the shortest form that reads back the same."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    return str(value) if isinstance(value, int) else repr(value)


def _in_range(name: str, value: int | float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise _fail(f"'{name}' must be between {limit_text(low)} and {limit_text(high)}, got {value}")


def _size(message: dict[str, Any]) -> tuple[int, int]:
    size = message.get("size", [512, 512])
    if not isinstance(size, list | tuple) or len(size) != 2:
        raise _fail("'size' must be a list of two integers [width, height]")
    for side in size:
        if isinstance(side, bool) or not isinstance(side, int):
            raise _fail(f"'size' must be two integers, got {side!r}")
        if side % SIDE_MULTIPLE or not MIN_SIDE <= side <= MAX_SIDE:
            raise _fail(
                f"'size' sides must be multiples of {SIDE_MULTIPLE} between {MIN_SIDE} and {MAX_SIDE}, "
                f"got {size[0]}x{size[1]}"
            )
    return size[0], size[1]


def parse_custom_values(message: dict[str, Any]) -> dict[str, Any] | None:
    """The `params` map's shape: names to plain values (each is checked against its workflow later)."""
    values = _typed(message, "params", dict, None)
    if values is None:
        return None
    if len(values) > MAX_CUSTOM_PARAMS:
        raise _fail(f"'params' has {len(values)} entries; the limit is {MAX_CUSTOM_PARAMS}")
    for name, value in values.items():
        if not isinstance(name, str) or not isinstance(value, str | int | float | bool):
            raise _fail(f"'params' maps names to strings, numbers or booleans; got {name!r}: {type(value).__name__}")
    return dict(values)


def parse_loras(message: dict[str, Any]) -> list[dict[str, Any]] | None:
    """`loras`: a list of {name, strength}; names are checked against the backends later."""
    loras = _typed(message, "loras", list, None)
    if not loras:
        return None
    if len(loras) > MAX_LORAS_PER_JOB:
        raise _fail(f"'loras' has {len(loras)} entries; the limit is {MAX_LORAS_PER_JOB}")
    parsed = []
    for index, entry in enumerate(loras):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise _fail(f"'loras[{index}]' must be a map with a 'name' (string) and a 'strength' (number)")
        strength = _typed(entry, "strength", (int, float), 1.0)
        if not math.isfinite(strength):  # NaN and infinities: no JSON for ComfyUI carries them
            raise _fail(f"'loras[{index}].strength' must be a finite number, got {strength!r}")
        parsed.append({"name": entry["name"], "strength": float(strength)})
    return parsed


def parse_job_id(message: dict[str, Any], key: str = "id") -> str | None:
    job_id: str | None = _typed(message, key, str, None)
    if job_id is not None and not JOB_ID_PATTERN.match(job_id):
        raise _fail(f"'{key}' must be 1-128 characters of letters, digits and _ . : - (first a letter or digit)")
    return job_id


def parse_generate(message: dict[str, Any], rng: random.Random | None = None) -> GenerateParams:
    """Validate a `generate` request. The seed is drawn here when absent, so it is recorded."""
    prompt = message.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _fail("'prompt' is required and must be a non-empty string")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise _fail(f"'prompt' is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
    negative = _typed(message, "negative_prompt", str, "")
    if len(negative) > MAX_PROMPT_CHARS:
        raise _fail(f"'negative_prompt' is {len(negative)} characters; the limit is {MAX_PROMPT_CHARS}")
    width, height = _size(message)
    steps = _typed(message, "steps", int, 20)
    _in_range("steps", steps, 1, MAX_STEPS)
    cfg_scale = float(_typed(message, "cfg_scale", (int, float), 7.0))
    _in_range("cfg_scale", cfg_scale, 0.0, 100.0)
    seed = _typed(message, "seed", int, None)
    if seed is None:
        seed = (rng or random.SystemRandom()).randrange(2**32)
    _in_range("seed", seed, 0, MAX_SEED)
    batch_size = _typed(message, "batch_size", int, 1)
    _in_range("batch_size", batch_size, 1, MAX_BATCH)
    priority = _typed(message, "priority", int, 0)
    _in_range("priority", priority, -1000, 1000)
    return GenerateParams(
        prompt=prompt,
        model=_typed(message, "model", str, None),
        width=width,
        height=height,
        steps=steps,
        cfg_scale=cfg_scale,
        negative_prompt=negative,
        seed=seed,
        sampler=_typed(message, "sampler", str, "euler"),
        scheduler=_typed(message, "scheduler", str, "normal"),
        batch_size=batch_size,
        workflow=_typed(message, "workflow", str, None),
        priority=priority,
        previews=_typed(message, "previews", bool, False),
    )
