"""Changes to a filled graph beyond writing values: chained LoraLoader nodes after a checkpoint loader."""

from __future__ import annotations

from typing import Any

# A checkpoint loader's outputs, and LoraLoader's: MODEL first, CLIP second.
MODEL_OUTPUT, CLIP_OUTPUT = 0, 1


def _next_ids(graph: dict[str, Any], count: int) -> list[str]:
    numeric = [int(node_id) for node_id in graph if node_id.isdigit()]
    start = max(numeric, default=0) + 1
    return [str(start + i) for i in range(count)]


def insert_loras(graph: dict[str, Any], loader: str, loras: list[dict[str, Any]]) -> list[str]:
    """Chain one LoraLoader per entry between `loader` and every node that used its MODEL or CLIP; in place.

    The first LoRA takes the loader's MODEL and CLIP, each next one the previous LoRA's; every input that was
    linked to the loader's MODEL or CLIP is linked to the last LoRA's instead. Returns the new node ids.
    """
    if not loras:
        return []
    ids = _next_ids(graph, len(loras))
    users = [
        (node, name, value[1])
        for node in graph.values()
        for name, value in (node.get("inputs") or {}).items()
        if isinstance(value, list) and len(value) == 2 and str(value[0]) == loader and value[1] in (0, 1)
    ]
    source = loader
    for node_id, lora in zip(ids, loras, strict=True):
        strength = float(lora.get("strength", 1.0))
        graph[node_id] = {
            "class_type": "LoraLoader",
            "inputs": {
                "lora_name": lora["name"],
                "strength_model": strength,
                "strength_clip": strength,
                "model": [source, MODEL_OUTPUT],
                "clip": [source, CLIP_OUTPUT],
            },
            "_meta": {"title": f"LoRA {lora['name']} (pixflow)"},
        }
        source = node_id
    for node, name, output in users:
        node["inputs"][name] = [source, output]
    return ids
