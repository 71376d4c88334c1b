"""The vectors of workflows with typed parameters (docs/workflows.md): `generate` with `params`, `images` and
`loras`, the `workflows` reply with each parameter's kind, range and choices, and refusals naming what is allowed.

The new `generate` fields come after the older ones (a typed client appends them to its struct). A parameter entry
always has all its keys, nil where it has no range or choices; key order is that of ParamSchema.to_wire and
workflow_requests.describe.
"""

from __future__ import annotations

from typing import Any

from .shared import Vector, b

# The first bytes of a PNG: the vector is about the envelope, not the picture.
PNG = b(bytes.fromhex("89504e470d0a1a0a0000000d49484452"))


def _param(name: str, source: str, kind: str, default: Any, description: str, **rest: Any) -> dict[str, Any]:
    return {
        "name": name,
        "source": source,
        "kind": kind,
        "default": default,
        "description": description,
        "min": rest.get("min"),
        "max": rest.get("max"),
        "step": rest.get("step"),
        "choices": rest.get("choices"),
        "targets": rest["targets"],
        "post": rest.get("post"),
    }


SPRITE_IMG2IMG: dict[str, Any] = {
    "name": "sprite_img2img",
    "description": "Pixel-art sprite from a reference image or sketch (img2img)",
    "params": ["prompt", "sampler", "width", "height"],
    "defaults": {"prompt": "pixel art knight", "sampler": "euler", "width": 512, "height": 512},
    "post": [
        {"step": "grid", "size": "32x32", "cell_px": 0.0, "given": "fallback", "method": "majority"},
        {"step": "palette", "palette": "adaptive", "colors": 16, "dither": "none"},
    ],
    "parameters": [
        _param("prompt", "field", "STRING", None, "what to draw", targets=["6.text"]),
        _param(
            "size",
            "field",
            "SIZE",
            [512, 512],
            "[width, height] in pixels",
            min=16,
            max=2048,
            step=8,
            targets=["13.width", "13.height"],
        ),
        _param(
            "sampler",
            "field",
            "COMBO",
            "euler",
            "the sampler",
            choices=["euler", "euler_ancestral", "dpmpp_2m"],
            targets=["3.sampler_name"],
        ),
        _param(
            "denoise",
            "params",
            "FLOAT",
            0.6,
            "How far to move from the reference",
            min=0.0,
            max=1.0,
            step=0.01,
            targets=["3.denoise"],
        ),
        _param(
            "grid",
            "params",
            "INT",
            32,
            "Side of the sprite in cells when the image shows no clear pixel grid",
            min=8,
            max=256,
            targets=[],
            post="grid.size",
        ),
        _param(
            "dither",
            "params",
            "COMBO",
            "none",
            "Dithering while mapping to the palette",
            choices=["none", "ordered"],
            targets=[],
            post="palette.dither",
        ),
    ],
    "images": [
        {
            "name": "reference",
            "description": "The picture or sketch to start from",
            "required": True,
            "target": "12.image",
        }
    ],
    "max_loras": 4,
    "backends": ["box1-gpu0"],
    "missing": {"box2-gpu0": ["node type LoadImage", "default checkpoint tiny-sd15.safetensors"]},
}

WORKFLOWS: list[Vector] = [
    (
        "generate request, workflow parameters, an image and LoRAs",
        "request",
        {
            "type": "generate",
            "v": 1,
            "req_id": 40,
            "id": "sprite-img-1",
            "prompt": "pixel art knight",
            "size": [64, 64],
            "steps": 8,
            "workflow": "sprite_img2img",
            "params": {"denoise": 0.5, "grid": 16, "dither": "none"},
            "images": {"reference": PNG},
            "loras": [{"name": "style.safetensors", "strength": 0.8}],
        },
    ),
    (
        "workflows reply, typed parameters and the backends that can run each",
        "reply",
        {"type": "workflows", "v": 1, "req_id": 41, "workflows": [SPRITE_IMG2IMG], "default": "txt2img"},
    ),
    (
        "error reply, a workflow parameter out of range",
        "reply",
        {
            "type": "error",
            "v": 1,
            "req_id": 40,
            "code": "invalid_params",
            "message": "'params.grid' must be between 8 and 256, got 300",
        },
    ),
    (
        "error reply, a LoRA no backend has",
        "reply",
        {
            "type": "error",
            "v": 1,
            "req_id": 40,
            "code": "invalid_params",
            "message": "'loras[0].name': no backend has the LoRA 'nope.safetensors'; available: style.safetensors",
        },
    ),
]
