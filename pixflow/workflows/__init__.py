"""Workflows: API-format ComfyUI graphs plus a YAML map of where each job parameter goes.

workflows/NAME.yaml names its graph file and maps parameters to node inputs:

    description: Text to image, one sampler pass
    graph: txt2img.json
    params:
      prompt: ["6.text"]          # node id "6", input "text"
      steps: ["3.steps", "12.steps"]
    stages:                       # extends states.DEFAULT_STAGE_OF_NODE for this workflow
      MyCustomSampler: sampling

Its own typed parameters (`custom:`), input images (`images:`), LoRAs (`loras:`) and the sprite steps run on each
output (`post:`, pixflow/sprites): see spec.py, docs/workflows.md and docs/sprites.md.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pixflow.errors import SpriteError, WorkflowError
from pixflow.sprites import Pipeline, parse_pipeline
from pixflow.vocabulary import STAGES, JobState
from pixflow.workflows.graph import insert_loras
from pixflow.workflows.params import GENERATE_FIELDS, GenerateParams
from pixflow.workflows.spec import (
    CustomParam,
    ImageSlot,
    LoraSlot,
    Target,
    parse_custom,
    parse_images,
    parse_loras,
    parse_target,
)

__all__ = [
    "ROUTABLE_PARAMS",
    "CustomParam",
    "ImageSlot",
    "LoraSlot",
    "Target",
    "Workflow",
    "load_workflow",
    "load_workflows",
]

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
class Workflow:
    name: str
    description: str
    graph: dict[str, Any]
    params: dict[str, tuple[Target, ...]]
    stages: dict[str, JobState] = field(default_factory=dict)
    custom: dict[str, CustomParam] = field(default_factory=dict)  # its own parameters (generate's `params`)
    images: dict[str, ImageSlot] = field(default_factory=dict)  # images sent with a job (generate's `images`)
    loras: LoraSlot | None = None  # where generate's `loras` are chained in; None: it takes none
    post: Pipeline | None = None  # the sprite steps run on each output after it is downloaded; None: saved as is

    def pipeline_for(self, custom: dict[str, Any] | None, sheet: dict[str, Any] | None = None) -> Pipeline | None:
        """The workflow's steps with the job's values of the parameters that set them, and a sheet frame's cell and
        locked palette over those (SpriteError if refused)."""
        if self.post is None:
            return None
        values = {
            param.post: (custom or {}).get(name, param.default)
            for name, param in self.custom.items()
            if param.post is not None
        }
        if sheet is not None:
            width, height = sheet["cell"]
            values["cell.size"] = f"{width}x{height}"
            if sheet.get("palette") is not None and any(step.name == "palette" for step in self.post.steps):
                values["palette.palette"] = sheet["palette"]
        return self.post.with_values(values) if values else self.post

    @functools.cached_property
    def _graph_text(self) -> str:
        return json.dumps(self.graph)  # a ComfyUI graph is JSON: nothing is lost going through its text

    def class_type(self, node_id: str) -> str | None:
        node = self.graph.get(node_id)
        return node.get("class_type") if isinstance(node, dict) else None

    def fill(self, params: GenerateParams) -> dict[str, Any]:
        """A copy of the graph with the job's parameters written into their node inputs."""
        graph: dict[str, Any] = json.loads(self._graph_text)  # a deep copy, four times cheaper than copy.deepcopy
        for name, targets in self.params.items():
            value = getattr(params, name)
            if value is None:  # e.g. no model asked for: keep the workflow's own
                continue
            for target in targets:
                graph[target.node_id]["inputs"][target.input_name] = value
        for name, param in self.custom.items():
            value = (params.custom or {}).get(name, param.default)
            for target in param.targets:
                graph[target.node_id]["inputs"][target.input_name] = value
        for name, slot in self.images.items():
            image = (params.images or {}).get(name)
            if image is not None:  # the name it is uploaded under (comfy/commands.py), unique to the job
                graph[slot.target.node_id]["inputs"][slot.target.input_name] = image["comfy_name"]
        if self.loras is not None and params.loras:
            insert_loras(graph, self.loras.loader, params.loras)
        return graph

    def describe(self) -> dict[str, Any]:
        defaults = {}
        for name, targets in self.params.items():
            first = targets[0]
            defaults[name] = self.graph[first.node_id]["inputs"].get(first.input_name)
        steps = self.post.describe() if self.post is not None else []
        return {
            "name": self.name,
            "description": self.description,
            "params": sorted(self.params),
            "defaults": defaults,
            "post": steps,
        }


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
        params[param] = tuple(parse_target(name, param, t, graph) for t in targets)
    stage_names = {s.value for s in STAGES}
    stages: dict[str, JobState] = {}
    for class_type, stage in (spec.get("stages") or {}).items():
        if stage not in stage_names:
            raise WorkflowError(f"workflow {name!r}: stage {stage!r} for {class_type} is not one of {stage_names}")
        stages[class_type] = JobState(stage)
    try:
        post = parse_pipeline(spec["post"]) if spec.get("post") is not None else None
    except SpriteError as e:
        raise WorkflowError(f"workflow {name!r}: post: {e.message}") from e
    custom = parse_custom(name, spec.get("custom"), graph, set(GENERATE_FIELDS), post)
    images = parse_images(name, spec.get("images"), graph, set(custom))
    loras = parse_loras(name, spec.get("loras"), graph)
    description = str(spec.get("description", ""))
    return Workflow(name, description, graph, params, stages, custom, images, loras, post)


def load_workflows(directory: Path) -> dict[str, Workflow]:
    workflows = {path.stem: load_workflow(path) for path in sorted(directory.glob("*.yaml"))}
    if not workflows:
        raise WorkflowError(f"no workflows (*.yaml) in {directory}")
    return workflows
