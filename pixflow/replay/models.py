"""What kind of GPU a replay server plays: its checkpoints and LoRAs, how slow it is, what a model switch costs.

A pool of replay servers with different profiles stands in for a pool of ComfyUI backends (docs/pool.md,
"Measuring"). Timing of one prompt, from its `execution_start`:

    [switch_cost, if its checkpoint is not the one loaded] [speed_factor * run_seconds] [recorded frames]

- `switch_cost` is wall-clock seconds, whatever the speed (loading a model does not get faster when the replay
  plays faster), and is paid before the first node runs, by the first prompt whose checkpoint differs from the
  one loaded. A server starts with `loaded` (default: nothing), so its first prompt loads its model too.
- `run_seconds` is work added to every prompt before its first node, in wall-clock seconds: it gives a
  zero-delay replay (speed 0, as tests and benchmarks use) a run length of its own.
- `speed_factor` scales that work and the recorded delays after `execution_start` (at speed > 0, a recorded
  delay d plays in d * speed_factor / speed): a GPU that many times slower.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

CHECKPOINT_INPUT = "ckpt_name"
LORA_INPUT = "lora_name"
# LoRAs a replay server offers beside the recorded ComfyUI's (which had none): the one the real-ComfyUI tier
# makes (e2e/make_lora.py, the default of sprite_lora's slot) and the style LoRA the README's examples name.
STAND_IN_LORAS = ("style.safetensors", "tiny-lora.safetensors")
# Output nodes when object_info does not say (ComfyUI marks them with "output_node": true).
OUTPUT_NODES = frozenset({"SaveImage", "PreviewImage"})


@dataclass(frozen=True)
class BackendProfile:
    checkpoints: tuple[str, ...] | None = None  # None: the fixture's object_info.json list, and no validation
    speed_factor: float = 1.0
    switch_cost: float = 0.0
    run_seconds: float = 0.0
    loaded: str | None = None  # the checkpoint in memory at start
    loras: tuple[str, ...] | None = None  # None: the fixture's object_info.json list and STAND_IN_LORAS

    def __post_init__(self) -> None:
        if self.speed_factor <= 0 or self.switch_cost < 0 or self.run_seconds < 0:
            raise ValueError(f"speed_factor must be > 0, switch_cost and run_seconds >= 0: {self}")


def with_checkpoints(object_info: dict[str, Any], checkpoints: tuple[str, ...] | None) -> dict[str, Any]:
    """object_info with `checkpoints` as the options of every node's ckpt_name input (CheckpointLoaderSimple,
    CheckpointLoader, ...), which is also what /models/checkpoints lists. LoRA lists are left as they are."""
    if checkpoints is None:
        return object_info
    info = copy.deepcopy(object_info)
    for node in info.values():
        spec = ((node.get("input") or {}).get("required") or {}).get(CHECKPOINT_INPUT)
        if isinstance(spec, list) and spec and isinstance(spec[0], list):
            spec[0] = list(checkpoints)
    if "CheckpointLoaderSimple" not in info:  # /models/checkpoints reads it: a fixture without one gets one
        info["CheckpointLoaderSimple"] = {"input": {"required": {CHECKPOINT_INPUT: [list(checkpoints), {}]}}}
    return info


def with_loras(object_info: dict[str, Any], loras: tuple[str, ...] | None) -> dict[str, Any]:
    """object_info (changed in place) with `loras`, or the recorded ones and STAND_IN_LORAS, as the options of
    every node's lora_name input (LoraLoader, LoraLoaderModelOnly): what /models/loras lists too."""
    for node in object_info.values():
        spec = ((node.get("input") or {}).get("required") or {}).get(LORA_INPUT)
        if isinstance(spec, list) and spec and isinstance(spec[0], list):
            offered = loras if loras is not None else (*spec[0], *STAND_IN_LORAS)
            spec[0] = list(dict.fromkeys(offered))
    return object_info


def offered_loras(object_info: dict[str, Any]) -> list[str]:
    spec = object_info.get("LoraLoader", {}).get("input", {}).get("required", {})
    return list((spec.get(LORA_INPUT) or [[]])[0])


def offered_checkpoints(object_info: dict[str, Any]) -> list[str]:
    spec = object_info.get("CheckpointLoaderSimple", {}).get("input", {}).get("required", {})
    return list((spec.get(CHECKPOINT_INPUT) or [[]])[0])


def checkpoint_of(graph: dict[str, Any]) -> str | None:
    """The checkpoint a prompt loads: the ckpt_name of its checkpoint loader node (the first, by node id)."""
    for _node_id, node in sorted(graph.items(), key=lambda item: str(item[0])):
        if not isinstance(node, dict):
            continue
        value = (node.get("inputs") or {}).get(CHECKPOINT_INPUT)
        if "CheckpointLoader" in str(node.get("class_type", "")) and isinstance(value, str):
            return value
    return None


def checkpoint_rejection(graph: dict[str, Any], object_info: dict[str, Any]) -> dict[str, Any] | None:
    """ComfyUI's 400 body for checkpoints this server does not have (`value_not_in_list`), else None.
    The shape is the recorded one: fixtures/comfyui-0.3.75/validation_error.jsonl, docs/comfyui.md."""
    node_errors: dict[str, Any] = {}
    for node_id, node in graph.items():
        if not isinstance(node, dict):
            continue
        class_type = str(node.get("class_type", ""))
        spec = (((object_info.get(class_type) or {}).get("input") or {}).get("required") or {}).get(CHECKPOINT_INPUT)
        value = (node.get("inputs") or {}).get(CHECKPOINT_INPUT)
        if not (isinstance(spec, list) and spec and isinstance(spec[0], list)) or not isinstance(value, str):
            continue
        if value in spec[0]:
            continue
        error = {
            "type": "value_not_in_list",
            "message": "Value not in list",
            "details": f"{CHECKPOINT_INPUT}: '{value}' not in {spec[0]!r}",
            "extra_info": {"input_name": CHECKPOINT_INPUT, "input_config": spec, "received_value": value},
        }
        dependent = [out for out in _output_nodes(graph, object_info) if _depends_on(graph, out, str(node_id))]
        node_errors[str(node_id)] = {"errors": [error], "dependent_outputs": dependent, "class_type": class_type}
    if not node_errors:
        return None
    failed = {
        "type": "prompt_outputs_failed_validation",
        "message": "Prompt outputs failed validation",
        "details": "",
        "extra_info": {},
    }
    return {"error": failed, "node_errors": node_errors}


def _output_nodes(graph: dict[str, Any], object_info: dict[str, Any]) -> list[str]:
    outputs = []
    for node_id, node in graph.items():
        class_type = str((node or {}).get("class_type", ""))
        if (object_info.get(class_type) or {}).get("output_node") or class_type in OUTPUT_NODES:
            outputs.append(str(node_id))
    return outputs


def _depends_on(graph: dict[str, Any], start: str, target: str) -> bool:
    """Whether node `start` reads, directly or not, an output of node `target` (links are [node_id, slot])."""
    seen, todo = set(), [start]
    while todo:
        node_id = todo.pop()
        if node_id == target:
            return True
        if node_id in seen:
            continue
        seen.add(node_id)
        for value in ((graph.get(node_id) or {}).get("inputs") or {}).values():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
                todo.append(str(value[0]))
    return False
