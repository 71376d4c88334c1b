"""What a ComfyUI can run (from its /object_info) and what a filled graph needs: the basis of placement.

A backend can run a job when it has every node type of the job's graph and every model file the graph
names (checkpoints in `ckpt_name` inputs, LoRAs in `lora_name` inputs): the same check ComfyUI's own
validation makes, done before a prompt is sent so that a job only ever goes where it can run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """The kinds of value a client can fill, as /object_info names them; SIZE is pixflow's own ([width, height]).
    Any other kind (MODEL, LATENT, a custom node's type) is a link between nodes and is kept as ComfyUI spells it."""

    INT = "INT"
    FLOAT = "FLOAT"
    BOOLEAN = "BOOLEAN"
    STRING = "STRING"
    COMBO = "COMBO"
    IMAGE_UPLOAD = "IMAGE_UPLOAD"  # a LoadImage file: a COMBO of the files in ComfyUI's input folder
    SIZE = "SIZE"


def kind_named(name: str) -> Kind | str:
    """A known kind as its enum member; any other name unchanged (on the wire both are the same string)."""
    try:
        return Kind(name)
    except ValueError:
        return name


# Input kinds a client can fill (the rest are links between nodes: MODEL, IMAGE, LATENT, ...).
VALUE_KINDS = frozenset(Kind) - {Kind.SIZE}
CHOICE_KINDS = frozenset({Kind.COMBO, Kind.IMAGE_UPLOAD})

# Inputs whose value names a file in one of ComfyUI's model folders, by the node input that lists them.
MODEL_INPUTS: dict[str, tuple[str, str]] = {
    "ckpt_name": ("CheckpointLoaderSimple", "checkpoint"),
    "lora_name": ("LoraLoader", "LoRA"),
}


def combo_options(object_info: dict[str, Any], node_type: str, input_name: str) -> list[str]:
    """The choices of a COMBO input: `[[a, b], {...}]` in ComfyUI 0.3.75, `["COMBO", {"options": [...]}]` newer."""
    inputs = (object_info.get(node_type) or {}).get("input") or {}
    spec = (inputs.get("required") or {}).get(input_name) or (inputs.get("optional") or {}).get(input_name)
    if not isinstance(spec, list) or not spec:
        return []
    options = spec[0]
    if options == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        options = spec[1].get("options", [])
    return [str(option) for option in options] if isinstance(options, list) else []


@dataclass(frozen=True)
class InputSpec:
    """One node input as /object_info declares it: its kind, range, step, choices and default."""

    kind: Kind | str  # a Kind, or a link type (MODEL, ...) as ComfyUI names it
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    options: tuple[str, ...] = ()
    default: Any = None
    tooltip: str | None = None


def parse_input_spec(spec: Any) -> InputSpec | None:
    """`["INT", {"min": 1, ...}]`, `[[a, b], {...}]` or `["COMBO", {"options": [...]}]` as an InputSpec."""
    if not isinstance(spec, list | tuple) or not spec:
        return None
    head, extra = spec[0], spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    tooltip = extra.get("tooltip") if isinstance(extra.get("tooltip"), str) else None
    if isinstance(head, list) or head == "COMBO":
        options = head if isinstance(head, list) else extra.get("options", [])
        kind = Kind.IMAGE_UPLOAD if extra.get("image_upload") else Kind.COMBO
        choices = tuple(str(o) for o in options) if isinstance(options, list) else ()
        return InputSpec(kind, options=choices, default=extra.get("default"), tooltip=tooltip)
    if not isinstance(head, str):
        return None

    def number(key: str) -> float | None:
        value = extra.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    return InputSpec(kind_named(head), number("min"), number("max"), number("step"), (), extra.get("default"), tooltip)


def parse_inputs(object_info: dict[str, Any]) -> dict[tuple[str, str], InputSpec]:
    """(node type, input name) -> its spec, for every required and optional input of every node type."""
    found: dict[tuple[str, str], InputSpec] = {}
    for node_type, info in object_info.items():
        inputs = (info or {}).get("input") if isinstance(info, dict) else None
        for group in ("required", "optional"):
            for input_name, spec in ((inputs or {}).get(group) or {}).items():
                parsed = parse_input_spec(spec)
                if parsed is not None:
                    found[(node_type, input_name)] = parsed
    return found


@dataclass(frozen=True)
class Requirements:
    node_types: frozenset[str]
    checkpoints: frozenset[str]
    loras: frozenset[str]

    @property
    def checkpoint(self) -> str | None:
        """The model a backend loads for this job: what decides a model switch."""
        return min(self.checkpoints) if self.checkpoints else None


def requirements_of(graph: dict[str, Any]) -> Requirements:
    node_types: set[str] = set()
    files: dict[str, set[str]] = {name: set() for name in MODEL_INPUTS}
    for node in graph.values():
        if not isinstance(node, dict):
            continue
        node_types.add(str(node.get("class_type")))
        for input_name, value in (node.get("inputs") or {}).items():
            if input_name in files and isinstance(value, str):
                files[input_name].add(value)
    return Requirements(frozenset(node_types), frozenset(files["ckpt_name"]), frozenset(files["lora_name"]))


@dataclass(frozen=True)
class Capabilities:
    node_types: frozenset[str]
    checkpoints: frozenset[str]
    loras: frozenset[str]
    version: str | None = None
    # (node type, input name) -> its declared kind, range and choices: what workflow parameters are checked against.
    inputs: Mapping[tuple[str, str], InputSpec] = field(default_factory=dict, hash=False, repr=False)

    @classmethod
    def from_object_info(cls, object_info: dict[str, Any], version: str | None = None) -> Capabilities:
        return cls(
            frozenset(object_info),
            frozenset(combo_options(object_info, "CheckpointLoaderSimple", "ckpt_name")),
            frozenset(combo_options(object_info, "LoraLoader", "lora_name")),
            version,
            parse_inputs(object_info),
        )

    def missing(self, needs: Requirements) -> list[str]:
        """What this backend lacks to run a job, said plainly; empty when it can run it."""
        lacking = [f"node type {name}" for name in sorted(needs.node_types - self.node_types)]
        lacking += [f"checkpoint {name}" for name in sorted(needs.checkpoints - self.checkpoints)]
        lacking += [f"LoRA {name}" for name in sorted(needs.loras - self.loras)]
        return lacking

    def can_run(self, needs: Requirements) -> bool:
        return (
            needs.node_types <= self.node_types and needs.checkpoints <= self.checkpoints and needs.loras <= self.loras
        )


def describe_missing(per_backend: Iterable[tuple[str, list[str]]]) -> str:
    parts = [
        f"{name} lacks {', '.join(lacking[:3])}{' …' if len(lacking) > 3 else ''}" for name, lacking in per_backend
    ]
    return "no backend can run it: " + "; ".join(parts) if parts else "no backend is configured"
