"""What a workflow's YAML declares besides its graph: where parameters go, its own typed parameters, its input
images and whether it takes LoRAs (docs/workflows.md).

    custom:                       # its own parameters, sent in generate's `params` map
      grid:
        targets: ["10.width", "10.height"]
        description: Sprite side in pixels
        default: 32               # else the graph's value at the first target
        min: 8                    # narrows what the backends' /object_info allows
        max: 256
    images:                       # images sent with the job (generate's `images`), each into a LoadImage input
      reference: {target: "12.image", description: The picture to start from}
    loras: {loader: "4", max: 4}  # LoraLoader nodes chained after this checkpoint loader (`loras: true`: the only one)
    post:                         # pixflow's sprite steps on each output (pixflow/sprites, docs/sprites.md)
      - grid: {size: 32}
      - palette: {palette: pico-8}
    custom:
      palette: {post: palette.palette}   # a parameter that sets a step's parameter instead of a node input
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pixflow.errors import SpriteError, WorkflowError
from pixflow.sprites import STEP_PARAMS, Pipeline, check_value

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DECLARED_KINDS = ("INT", "FLOAT", "BOOLEAN", "STRING", "COMBO")
MAX_LORAS = 8
CUSTOM_KEYS = frozenset({"target", "targets", "description", "default", "type", "min", "max", "step", "choices"})
POST_KEYS = frozenset({"post", "description", "default", "type", "min", "max", "choices"})


@dataclass(frozen=True)
class Target:
    node_id: str
    input_name: str

    def __str__(self) -> str:
        return f"{self.node_id}.{self.input_name}"


@dataclass(frozen=True)
class CustomParam:
    """A parameter of this workflow alone. Its type and range come from /object_info; these narrow them."""

    name: str
    targets: tuple[Target, ...]
    description: str = ""
    default: Any = None
    kind: str | None = None  # `type:` in the YAML: used where no backend has said what the input is
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    post: str | None = None  # "step.param": it sets a sprite step's parameter (no targets in the graph)


@dataclass(frozen=True)
class ImageSlot:
    name: str
    target: Target  # a LoadImage node's `image` input: the uploaded file's name goes there
    description: str = ""
    required: bool = True


@dataclass(frozen=True)
class LoraSlot:
    loader: str  # the node whose MODEL (output 0) and CLIP (output 1) the chained LoraLoaders patch
    max: int = 4


def parse_target(workflow: str, param: str, spec: Any, graph: dict[str, Any]) -> Target:
    if not isinstance(spec, str) or "." not in spec:
        raise WorkflowError(f"{workflow}: param {param!r}: target {spec!r} must be 'node_id.input'")
    node_id, input_name = spec.rsplit(".", 1)
    node = graph.get(node_id)
    if not isinstance(node, dict) or "inputs" not in node:
        raise WorkflowError(f"{workflow}: param {param!r}: node {node_id!r} is not in the graph")
    if input_name not in node["inputs"]:
        raise WorkflowError(
            f"{workflow}: param {param!r}: node {node_id!r} ({node.get('class_type')}) has no input {input_name!r}"
        )
    if isinstance(node["inputs"][input_name], list):
        raise WorkflowError(f"{workflow}: param {param!r}: {spec} is a link to another node, not a value")
    return Target(node_id, input_name)


def _number(workflow: str, name: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WorkflowError(f"{workflow}: custom param {name!r}: {key} must be a number, got {value!r}")
    return value


def parse_custom(
    workflow: str, spec: Any, graph: dict[str, Any], taken: set[str], post: Pipeline | None = None
) -> dict[str, CustomParam]:
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise WorkflowError(f"{workflow}: custom must map parameter names to {{targets, description, default, ...}}")
    found: dict[str, CustomParam] = {}
    for name, entry in spec.items():
        if not isinstance(name, str) or not NAME_PATTERN.match(name) or name in taken:
            raise WorkflowError(f"{workflow}: custom param {name!r}: names are a-z, 0-9, _ and not a generate field")
        entry = entry if isinstance(entry, dict) else {"targets": entry}
        if "post" in entry:
            found[name] = _post_param(workflow, name, entry, post)
            continue
        unknown = set(entry) - CUSTOM_KEYS
        if unknown:
            raise WorkflowError(f"{workflow}: custom param {name!r}: unknown keys {sorted(unknown)}")
        targets = entry.get("targets", entry.get("target"))
        targets = targets if isinstance(targets, list) else [targets]
        parsed = tuple(parse_target(workflow, name, t, graph) for t in targets)
        kind = entry.get("type")
        if kind is not None and kind not in DECLARED_KINDS:
            raise WorkflowError(f"{workflow}: custom param {name!r}: type {kind!r} is not one of {DECLARED_KINDS}")
        choices = entry.get("choices")
        if choices is not None and (not isinstance(choices, list) or not choices):
            raise WorkflowError(f"{workflow}: custom param {name!r}: choices must be a non-empty list")
        first = parsed[0]
        default = entry.get("default", graph[first.node_id]["inputs"][first.input_name])
        found[name] = CustomParam(
            name,
            parsed,
            str(entry.get("description", "")),
            default,
            kind,
            _number(workflow, name, "min", entry.get("min")),
            _number(workflow, name, "max", entry.get("max")),
            _number(workflow, name, "step", entry.get("step")),
            tuple(choices) if choices is not None else None,
        )
    return found


def _post_param(workflow: str, name: str, entry: dict[str, Any], post: Pipeline | None) -> CustomParam:
    """A parameter that sets one of the workflow's sprite steps: typed by the step, narrowed by the YAML."""
    unknown = set(entry) - POST_KEYS
    if unknown:
        raise WorkflowError(f"{workflow}: custom param {name!r}: unknown keys {sorted(unknown)} beside post")
    key = entry["post"]
    step_param = STEP_PARAMS.get(key) if isinstance(key, str) else None
    if step_param is None:
        raise WorkflowError(f"{workflow}: custom param {name!r}: post {key!r} is no step parameter (docs/sprites.md)")
    if post is None or step_param.step not in {step.name for step in post.steps}:
        raise WorkflowError(f"{workflow}: custom param {name!r}: post {key!r}: the workflow's post: has no such step")
    kind = entry.get("type", step_param.kind)
    if kind not in DECLARED_KINDS:
        raise WorkflowError(f"{workflow}: custom param {name!r}: type {kind!r} is not one of {DECLARED_KINDS}")
    declared = next(step for step in post.steps if step.name == step_param.step).params[step_param.name]
    choices = entry.get("choices", step_param.choices)
    if choices is not None and (not isinstance(choices, list | tuple) or not choices):
        raise WorkflowError(f"{workflow}: custom param {name!r}: choices must be a non-empty list")
    low = _number(workflow, name, "min", entry.get("min"))
    high = _number(workflow, name, "max", entry.get("max"))
    default = entry.get("default", declared)
    try:
        check_value(step_param, default)
    except SpriteError as e:
        raise WorkflowError(f"{workflow}: custom param {name!r}: default: {e.message}") from e
    lows = [v for v in (low, step_param.minimum) if v is not None]
    highs = [v for v in (high, step_param.maximum) if v is not None]
    return CustomParam(
        name,
        (),
        str(entry.get("description", step_param.description)),
        default,
        kind,  # a YAML `type: INT` for a "WxH" parameter: grid.size takes 32 for 32x32
        max(lows, default=None),
        min(highs, default=None),
        None,
        tuple(choices) if choices is not None else None,
        key,
    )


def parse_images(workflow: str, spec: Any, graph: dict[str, Any], taken: set[str]) -> dict[str, ImageSlot]:
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise WorkflowError(f"{workflow}: images must map image names to {{target, description, required}}")
    found: dict[str, ImageSlot] = {}
    for name, entry in spec.items():
        if not isinstance(name, str) or not NAME_PATTERN.match(name) or name in taken:
            raise WorkflowError(f"{workflow}: image {name!r}: names are a-z, 0-9, _ and unique in the workflow")
        entry = entry if isinstance(entry, dict) else {"target": entry}
        target = parse_target(workflow, name, entry.get("target"), graph)
        found[name] = ImageSlot(name, target, str(entry.get("description", "")), bool(entry.get("required", True)))
    return found


def parse_loras(workflow: str, spec: Any, graph: dict[str, Any]) -> LoraSlot | None:
    if spec is None or spec is False:
        return None
    entry = {} if spec is True else spec
    if not isinstance(entry, dict):
        raise WorkflowError(f"{workflow}: loras must be true or {{loader: NODE_ID, max: N}}")
    loader = entry.get("loader")
    if loader is None:
        loaders = [n for n, node in graph.items() if node.get("class_type") == "CheckpointLoaderSimple"]
        if len(loaders) != 1:
            raise WorkflowError(
                f"{workflow}: loras: name the loader node (the graph has {len(loaders)} checkpoint loaders)"
            )
        loader = loaders[0]
    if str(loader) not in graph:
        raise WorkflowError(f"{workflow}: loras: node {loader!r} is not in the graph")
    most = entry.get("max", 4)
    if isinstance(most, bool) or not isinstance(most, int) or not 1 <= most <= MAX_LORAS:
        raise WorkflowError(f"{workflow}: loras: max must be a whole number from 1 to {MAX_LORAS}")
    return LoraSlot(str(loader), most)
