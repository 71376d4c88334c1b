"""Can a backend run a workflow? Checked against its /object_info before any job is sent.

A backend can run a workflow when it has every node type of the graph and every node input the workflow maps
(its generate fields, its own parameters, its images). Model files the graph names by default (a checkpoint, a
LoRA) are reported too, as "default …": a job may name others, and placement checks the job's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pixflow.comfy.capabilities import Capabilities, requirements_of
from pixflow.workflows import Target, Workflow


def mapped_targets(workflow: Workflow) -> list[Target]:
    targets = [t for ts in workflow.params.values() for t in ts]
    targets += [t for param in workflow.custom.values() for t in param.targets]
    targets += [slot.target for slot in workflow.images.values()]
    return targets


def lacking(workflow: Workflow, caps: Capabilities) -> tuple[list[str], list[str]]:
    """(what stops this backend from running the workflow at all, default model files it does not have)."""
    needs = requirements_of(workflow.graph)
    structural = [f"node type {name}" for name in sorted(needs.node_types - caps.node_types)]
    seen: set[tuple[str, str]] = set()
    for target in mapped_targets(workflow):
        key = (str(workflow.class_type(target.node_id)), target.input_name)
        if key[0] in caps.node_types and key not in caps.inputs and key not in seen:
            seen.add(key)
            structural.append(f"input {key[0]}.{key[1]}")
    if workflow.loras is not None and "LoraLoader" not in caps.node_types:
        structural.append("node type LoraLoader (for `loras`)")
    files = [f"default checkpoint {name}" for name in sorted(needs.checkpoints - caps.checkpoints)]
    files += [f"default LoRA {name}" for name in sorted(needs.loras - caps.loras)]
    return structural, files


@dataclass(frozen=True)
class Fitness:
    """A workflow over the pool: the backends that can run it and what each of the others lacks."""

    backends: list[str]
    missing: dict[str, list[str]]
    unknown: list[str]  # backends whose /object_info has not been read yet

    def to_wire(self) -> dict[str, Any]:
        return {"backends": self.backends, "missing": self.missing}

    @property
    def runnable(self) -> bool:
        """False only when every backend has been heard from and none can run it."""
        return bool(self.backends) or bool(self.unknown)

    def reason(self, workflow: str) -> str:
        parts = [f"{name} lacks {', '.join(lacks)}" for name, lacks in self.missing.items() if lacks]
        return f"no backend can run workflow {workflow!r}: " + "; ".join(parts)


def fitness(workflow: Workflow, pool: Iterable[tuple[str, Capabilities | None]]) -> Fitness:
    able: list[str] = []
    missing: dict[str, list[str]] = {}
    unknown: list[str] = []
    for name, caps in pool:
        if caps is None:
            unknown.append(name)
            continue
        structural, files = lacking(workflow, caps)
        if not structural:
            able.append(name)
        if structural or files:
            missing[name] = structural + files
    return Fitness(able, missing, unknown)
