"""Typed workflow parameters: each one's kind, range and choices from the backends' /object_info for the node
inputs it fills, narrowed by the workflow's YAML; and the checks of a job's values against them.

Every refusal is a RequestError `invalid_params` naming the parameter and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pixflow.comfy.capabilities import CHOICE_KINDS, Capabilities, InputSpec, Kind, kind_named
from pixflow.errors import ErrorCode, RequestError, SpriteError
from pixflow.sprites import STEP_PARAMS
from pixflow.sprites import check_value as check_step_value
from pixflow.workflows import Target, Workflow
from pixflow.workflows.params import (
    MAX_BATCH,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_SIDE,
    MAX_STEPS,
    MIN_SIDE,
    SIDE_MULTIPLE,
    GenerateParams,
    limit_text,
)

# The generate fields a workflow may map, as a client sends them (width and height travel together as `size`).
FIELD_OF = {"width": "size", "height": "size"}
FIELD_TEXT = {
    "prompt": "what to draw",
    "negative_prompt": "what to avoid",
    "model": "the checkpoint",
    "size": "[width, height] in pixels",
    "batch_size": "images per job",
    "seed": "the noise seed (random when absent)",
    "steps": "sampler steps",
    "cfg_scale": "classifier-free guidance scale",
    "sampler": "the sampler",
    "scheduler": "the noise schedule",
}
SHOWN_CHOICES = 60  # choices named in an error message; the rest are counted
# pixflow's own limits on the generate fields (params.py), which narrow what the inputs allow: (min, max, step).
FIELD_LIMITS: dict[str, tuple[float, float, float | None]] = {
    "size": (MIN_SIDE, MAX_SIDE, SIDE_MULTIPLE),
    "steps": (1, MAX_STEPS, None),
    "cfg_scale": (0.0, 100.0, None),
    "seed": (0, MAX_SEED, None),
    "batch_size": (1, MAX_BATCH, None),
}
# What a job gets for a field it leaves out, as GenerateParams says (the workflow's own value for `model`).
_UNSET = GenerateParams(prompt="")
FIELD_DEFAULTS: dict[str, Any] = {
    "negative_prompt": _UNSET.negative_prompt,
    "size": [_UNSET.width, _UNSET.height],
    "steps": _UNSET.steps,
    "cfg_scale": _UNSET.cfg_scale,
    "sampler": _UNSET.sampler,
    "scheduler": _UNSET.scheduler,
    "batch_size": _UNSET.batch_size,
}


class Source(StrEnum):
    """Where a client sets a parameter."""

    FIELD = "field"  # a generate field of its own (`steps`, `size`, ...)
    PARAMS = "params"  # in generate's `params` map (a workflow's custom parameter)


def _invalid(message: str) -> RequestError:
    return RequestError(ErrorCode.INVALID_PARAMS, message)


@dataclass(frozen=True)
class ParamSchema:
    name: str
    source: Source
    kind: Kind | str  # a Kind (SIZE for `size`: [width, height], each INT), or another kind as ComfyUI names it
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    targets: tuple[str, ...] = ()
    post: str | None = None  # the sprite step parameter it sets ("palette.colors"), instead of node inputs

    def to_wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source.value,
            "kind": str(self.kind),
            "default": self.default,
            "description": self.description,
            "min": self.minimum,
            "max": self.maximum,
            "step": self.step,
            "choices": list(self.choices) if self.choices is not None else None,
            "targets": list(self.targets),
            "post": self.post,
        }

    def check(self, value: Any, label: str | None = None) -> Any:
        return check_value(
            label or f"'{self.name}'", value, self.kind, self.minimum, self.maximum, self.step, self.choices
        )


def _choices_text(choices: Sequence[Any]) -> str:
    shown = ", ".join(str(c) for c in choices[:SHOWN_CHOICES])
    return shown + (f" … ({len(choices) - SHOWN_CHOICES} more)" if len(choices) > SHOWN_CHOICES else "")


def check_value(
    label: str,
    value: Any,
    kind: Kind | str,
    minimum: float | None = None,
    maximum: float | None = None,
    step: float | None = None,
    choices: Sequence[Any] | None = None,
) -> Any:
    """The value as it goes into the graph (an int given for a FLOAT becomes a float), or invalid_params."""
    if kind == Kind.INT and (isinstance(value, bool) or not isinstance(value, int)):
        raise _invalid(f"{label} must be an integer, got {value!r}")
    if kind == Kind.FLOAT:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid(f"{label} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):  # NaN and infinities: no JSON for ComfyUI carries them
            raise _invalid(f"{label} must be a finite number, got {value!r}")
    if kind == Kind.BOOLEAN and not isinstance(value, bool):
        raise _invalid(f"{label} must be true or false, got {value!r}")
    if (kind == Kind.STRING or kind in CHOICE_KINDS) and not isinstance(value, str):
        raise _invalid(f"{label} must be a string, got {value!r}")
    if kind == Kind.STRING and len(value) > MAX_PROMPT_CHARS:
        raise _invalid(f"{label} is {len(value)} characters; the limit is {MAX_PROMPT_CHARS}")
    if kind in CHOICE_KINDS and choices is not None and not choices:
        raise _invalid(f"{label}: no backend offers any choice for it (its list is empty)")
    if choices is not None and value not in choices:
        raise _invalid(f"{label} must be one of: {_choices_text(choices)}; got {value!r}")
    if kind in (Kind.INT, Kind.FLOAT):
        if minimum is not None and maximum is not None and not minimum <= value <= maximum:
            raise _invalid(f"{label} must be between {limit_text(minimum)} and {limit_text(maximum)}, got {value}")
        if minimum is not None and value < minimum:
            raise _invalid(f"{label} must be at least {limit_text(minimum)}, got {value}")
        if maximum is not None and value > maximum:
            raise _invalid(f"{label} must be at most {limit_text(maximum)}, got {value}")
        if kind == Kind.INT and step and step > 1 and (value - (minimum or 0)) % step:
            base = limit_text(minimum or 0)
            raise _invalid(f"{label} must be {base} plus a multiple of {limit_text(step)}, got {value}")
    return value


def merged_spec(caps: Sequence[Capabilities], node_type: str | None, input_name: str) -> InputSpec | None:
    """One input's spec over the backends that know it: the narrowest range, every choice any of them offers."""
    specs = [spec for c in caps if (spec := c.inputs.get((str(node_type), input_name))) is not None]
    if not specs:
        return None
    lows = [s.minimum for s in specs if s.minimum is not None]
    highs = [s.maximum for s in specs if s.maximum is not None]
    options = tuple(dict.fromkeys(option for s in specs for option in s.options))
    first = specs[0]
    return InputSpec(first.kind, max(lows, default=None), min(highs, default=None), first.step, options, first.default)


def _targets_spec(workflow: Workflow, targets: Sequence[Target], caps: Sequence[Capabilities]) -> InputSpec | None:
    found = [s for t in targets if (s := merged_spec(caps, workflow.class_type(t.node_id), t.input_name))]
    if not found:
        return None
    lows = [s.minimum for s in found if s.minimum is not None]
    highs = [s.maximum for s in found if s.maximum is not None]
    options = [set(s.options) for s in found if s.kind in CHOICE_KINDS]
    common = tuple(o for o in found[0].options if all(o in other for other in options))
    return InputSpec(found[0].kind, max(lows, default=None), min(highs, default=None), found[0].step, common)


def _narrow(low: float | None, high: float | None, yaml_low: float | None, yaml_high: float | None) -> tuple[Any, Any]:
    lows = [v for v in (low, yaml_low) if v is not None]
    highs = [v for v in (high, yaml_high) if v is not None]
    return max(lows, default=None), min(highs, default=None)


def _kind_of(value: Any) -> Kind:
    if isinstance(value, bool):
        return Kind.BOOLEAN
    return Kind.INT if isinstance(value, int) else Kind.FLOAT if isinstance(value, float) else Kind.STRING


def custom_schemas(workflow: Workflow, caps: Sequence[Capabilities]) -> list[ParamSchema]:
    found = []
    for param in workflow.custom.values():
        spec = _targets_spec(workflow, param.targets, caps)
        kind = spec.kind if spec is not None else (kind_named(param.kind) if param.kind else _kind_of(param.default))
        kind = Kind.COMBO if kind == Kind.IMAGE_UPLOAD else kind
        low, high = _narrow(
            spec.minimum if spec else None, spec.maximum if spec else None, param.minimum, param.maximum
        )
        choices: tuple[Any, ...] | None = spec.options if spec is not None and kind == Kind.COMBO else None
        if param.choices is not None:
            choices = tuple(c for c in param.choices if choices is None or c in choices)
        step = param.step if param.step is not None else (spec.step if spec is not None else None)
        targets = tuple(str(t) for t in param.targets)
        found.append(
            ParamSchema(
                param.name,
                Source.PARAMS,
                kind,
                param.default,
                param.description,
                low,
                high,
                step,
                choices,
                targets,
                param.post,
            )
        )
    return found


def field_schemas(workflow: Workflow, caps: Sequence[Capabilities]) -> list[ParamSchema]:
    """The generate fields this workflow maps, typed from the inputs they fill, in the order of its YAML."""
    found: dict[str, ParamSchema] = {}
    for name, targets in workflow.params.items():
        wire = FIELD_OF.get(name, name)
        if wire in found:
            continue
        spec = _targets_spec(workflow, targets, caps)
        graph_value = workflow.graph[targets[0].node_id]["inputs"].get(targets[0].input_name)
        default = graph_value if wire == "model" else FIELD_DEFAULTS.get(wire)
        kind = Kind.SIZE if wire == "size" else (spec.kind if spec is not None else _kind_of(graph_value))
        choices = spec.options if spec is not None and spec.kind == Kind.COMBO else None
        own_low, own_high, own_step = FIELD_LIMITS.get(wire, (None, None, None))
        low, high = _narrow(spec.minimum if spec else None, spec.maximum if spec else None, own_low, own_high)
        step = own_step if own_step is not None else (spec.step if spec is not None else None)
        targets_text = tuple(str(t) for n, ts in workflow.params.items() if FIELD_OF.get(n, n) == wire for t in ts)
        found[wire] = ParamSchema(
            wire, Source.FIELD, kind, default, FIELD_TEXT.get(wire, ""), low, high, step, choices, targets_text
        )
    return list(found.values())


def check_custom(
    workflow: Workflow,
    values: dict[str, Any] | None,
    caps: Sequence[Capabilities],
    schemas: dict[str, ParamSchema] | None = None,
) -> dict[str, Any] | None:
    """The job's `params`, each checked against its schema (given, or made from `caps`); unknown names are refused."""
    if not values:
        return None
    if schemas is None:
        schemas = {schema.name: schema for schema in custom_schemas(workflow, caps)}
    checked = {}
    for name, value in values.items():
        schema = schemas.get(name)
        if schema is None:
            takes = f"its parameters: {', '.join(sorted(schemas))}" if schemas else "it takes none"
            raise _invalid(f"workflow {workflow.name!r} has no parameter {name!r} in 'params'; {takes}")
        label = f"'params.{name}'"
        if schema.post is None:
            checked[name] = schema.check(value, label)
            continue
        if schema.kind != Kind.STRING:  # strings (a palette file's text) are the step's to bound
            value = schema.check(value, label)
        checked[name] = _step_value(schema.post, value, label)
    return checked


def _step_value(key: str, value: Any, label: str) -> Any:
    """A value for a sprite step's parameter, checked as the step takes it (a palette's text, a WxH); kept as the
    client sent it (the step normalises it when the job's steps are bound)."""
    try:
        check_step_value(STEP_PARAMS[key], value)
        return value
    except SpriteError as e:
        raise _invalid(f"{label}: {e.message}") from e


@dataclass(frozen=True)
class FieldRule:
    """One generate field a workflow maps, and the spec (merged over the backends) its value is checked against."""

    name: str  # the GenerateParams attribute
    label: str
    spec: InputSpec


def field_rules(workflow: Workflow, caps: Sequence[Capabilities]) -> list[FieldRule]:
    rules = []
    for name, targets in workflow.params.items():
        spec = _targets_spec(workflow, targets, caps)
        if spec is not None:
            label = f"'{FIELD_OF.get(name, name)}'" + (f" ({name})" if name in FIELD_OF else "")
            rules.append(FieldRule(name, label, spec))
    return rules


def check_fields(
    workflow: Workflow,
    params: GenerateParams,
    caps: Sequence[Capabilities],
    rules: Sequence[FieldRule] | None = None,
) -> None:
    """The generate fields the workflow maps, against the inputs they fill (e.g. `sampler` in KSampler's list);
    `rules` are field_rules(workflow, caps) made before, if the caller keeps them."""
    for rule in rules if rules is not None else field_rules(workflow, caps):
        value = getattr(params, rule.name)
        if value is None:
            continue
        spec = rule.spec
        choices = spec.options if spec.kind == Kind.COMBO else None
        check_value(rule.label, value, spec.kind, spec.minimum, spec.maximum, None, choices)


def check_loras(workflow: Workflow, loras: list[dict[str, Any]] | None, caps: Sequence[Capabilities]) -> None:
    if not loras:
        return
    if workflow.loras is None:
        raise _invalid(f"workflow {workflow.name!r} takes no 'loras' (its YAML has no `loras:` slot)")
    if len(loras) > workflow.loras.max:
        raise _invalid(f"'loras': workflow {workflow.name!r} takes at most {workflow.loras.max}, got {len(loras)}")
    offered = sorted({lora for c in caps for lora in c.loras})
    strength = merged_spec(caps, "LoraLoader", "strength_model")
    for index, lora in enumerate(loras):
        if caps and lora["name"] not in offered:
            available = ", ".join(offered) if offered else "none"
            raise _invalid(f"'loras[{index}].name': no backend has the LoRA {lora['name']!r}; available: {available}")
        low, high = (strength.minimum, strength.maximum) if strength is not None else (None, None)
        check_value(f"'loras[{index}].strength'", lora["strength"], Kind.FLOAT, low, high)
