"""Workflows: API-format ComfyUI graphs plus a YAML map of where each job parameter goes.

workflows/NAME.yaml names its graph file and maps parameters to node inputs:

    description: Text to image, one sampler pass
    graph: txt2img.json
    params:
      prompt: ["6.text"]          # node id "6", input "text"
      steps: ["3.steps", "12.steps"]
    stages:                       # extends states.DEFAULT_STAGE_OF_NODE for this workflow
      MyCustomSampler: sampling
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pixflow.errors import WorkflowError
from pixflow.vocabulary import STAGES, JobState
from pixflow.workflows.params import GenerateParams

# Parameters a workflow may route; names as in GenerateParams.
ROUTABLE_PARAMS = (
    "prompt",
    "negative_prompt",
    "model",
    "width",
    "height",
    "batch_size",
    "seed",
    "steps",
    "cfg_scale",
    "sampler",
    "scheduler",
)


@dataclass(frozen=True)
class Target:
    node_id: str
    input_name: str


@dataclass(frozen=True)
class Workflow:
    name: str
    description: str
    graph: dict[str, Any]
    params: dict[str, tuple[Target, ...]]
    stages: dict[str, JobState] = field(default_factory=dict)

    def class_type(self, node_id: str) -> str | None:
        node = self.graph.get(node_id)
        return node.get("class_type") if isinstance(node, dict) else None

    def fill(self, params: GenerateParams) -> dict[str, Any]:
        """A copy of the graph with the job's parameters written into their node inputs."""
        graph = copy.deepcopy(self.graph)
        for name, targets in self.params.items():
            value = getattr(params, name)
            if value is None:  # e.g. no model asked for: keep the workflow's own
                continue
            for target in targets:
                graph[target.node_id]["inputs"][target.input_name] = value
        return graph

    def describe(self) -> dict[str, Any]:
        defaults = {}
        for name, targets in self.params.items():
            first = targets[0]
            defaults[name] = self.graph[first.node_id]["inputs"].get(first.input_name)
        return {"name": self.name, "description": self.description, "params": sorted(self.params), "defaults": defaults}


def _parse_target(workflow: str, param: str, spec: Any, graph: dict[str, Any]) -> Target:
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
    return Target(node_id, input_name)


def load_workflow(spec_path: Path) -> Workflow:
    name = spec_path.stem
    try:
        spec = yaml.safe_load(spec_path.read_text()) or {}
        graph_path = spec_path.parent / spec.get("graph", f"{name}.json")
        graph = json.loads(graph_path.read_text())
    except (OSError, yaml.YAMLError, json.JSONDecodeError) as e:
        raise WorkflowError(f"workflow {name!r} cannot be read: {e}") from e
    if not isinstance(graph, dict) or not all(isinstance(n, dict) and "class_type" in n for n in graph.values()):
        raise WorkflowError(f"workflow {name!r}: {graph_path.name} is not an API-format graph")
    params: dict[str, tuple[Target, ...]] = {}
    for param, targets in (spec.get("params") or {}).items():
        if param not in ROUTABLE_PARAMS:
            raise WorkflowError(f"workflow {name!r}: unknown param {param!r}; known: {', '.join(ROUTABLE_PARAMS)}")
        targets = targets if isinstance(targets, list) else [targets]
        params[param] = tuple(_parse_target(name, param, t, graph) for t in targets)
    stage_names = {s.value for s in STAGES}
    stages: dict[str, JobState] = {}
    for class_type, stage in (spec.get("stages") or {}).items():
        if stage not in stage_names:
            raise WorkflowError(f"workflow {name!r}: stage {stage!r} for {class_type} is not one of {stage_names}")
        stages[class_type] = JobState(stage)
    return Workflow(name, str(spec.get("description", "")), graph, params, stages)


def load_workflows(directory: Path) -> dict[str, Workflow]:
    workflows = {path.stem: load_workflow(path) for path in sorted(directory.glob("*.yaml"))}
    if not workflows:
        raise WorkflowError(f"no workflows (*.yaml) in {directory}")
    return workflows
