"""What images a submitted graph would make in ComfyUI: their size, batch, seed and prompt, and the pixel steps
(scale, quantize) after decoding, read from the API-format graph that POST /prompt received.

The replay server draws its output images from these plans (pictures.py) so that a workflow's outputs have the
size and look a real ComfyUI would give them. Only what decides size and look is followed: the latent's source
(`EmptyLatentImage`, `VAEEncode`), latent upscales, batch nodes, samplers (seed, positive prompt), `VAEDecode`,
`ImageScale*` and `ImageQuantize`; any other node passes its first image or latent input through. A graph that
cannot be read (a link to a missing node, a cycle) gets no plan: the recording's own files are served.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

MAX_SIDE = 4096  # a stand-in draws nothing bigger (ComfyUI's own limit is 16384): cheap, bounded memory
MAX_BATCH = 4096  # EmptyLatentImage's own limit
_LARGEST = 1e9  # numbers are clamped to this before any arithmetic (a graph can hold any JSON number)
LATENT_SCALE = 8  # pixels per latent cell in the SD-style models the recordings use
_SEARCH_DEPTH = 64  # links followed from an output node before the graph is taken to loop
OUTPUT_NODE = "SaveImage"
# Names of inputs that carry the picture through nodes this module does not know, in the order tried.
_IMAGE_INPUTS = ("image", "images", "pixels")
_LATENT_INPUTS = ("samples", "latent_image", "latent")


@dataclass(frozen=True)
class Latent:
    """A LATENT as the pictures need it: its size in pixels, its batch, and what was sampled into it."""

    width: int
    height: int
    batch: int = 1
    seed: int = 0
    text: str = ""


@dataclass(frozen=True)
class Scale:
    width: int
    height: int
    method: str  # ComfyUI's upscale_method: nearest-exact, bilinear, area, bicubic, lanczos, bislerp
    crop: bool  # "center": cut to the new aspect ratio first


@dataclass(frozen=True)
class Quantize:
    colors: int
    dither: bool


Step = Scale | Quantize


@dataclass(frozen=True)
class ImagePlan:
    """A node's images: decode `latent` (one picture per batch entry), then apply `steps` in order."""

    latent: Latent
    steps: tuple[Step, ...] = ()

    @property
    def size(self) -> tuple[int, int]:
        width, height = self.latent.width, self.latent.height
        for step in self.steps:
            if isinstance(step, Scale):
                width, height = step.width, step.height
        return width, height

    @property
    def batch(self) -> int:
        return self.latent.batch


class UnreadableGraph(ValueError):
    pass


def output_plans(graph: dict[str, Any]) -> dict[str, ImagePlan]:
    """The plan of every SaveImage node's images, by node id; nodes whose inputs cannot be followed are left out."""
    reader = _Reader(graph)
    plans: dict[str, ImagePlan] = {}
    for node_id, node in graph.items():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if isinstance(inputs, dict) and node.get("class_type") == OUTPUT_NODE:
            try:
                plans[str(node_id)] = reader.image_of_input(inputs, ("images",), 0)
            except UnreadableGraph:
                continue
    return plans


def sampled_latent(graph: dict[str, Any], node_id: str) -> Latent | None:
    """What the node `node_id` outputs as a LATENT (a sampler's result: what its previews show), if readable."""
    node = graph.get(node_id)
    if not isinstance(node, dict):
        return None
    try:
        return _Reader(graph).latent(node_id, 0)
    except UnreadableGraph:
        return None


def _link(value: Any) -> str | None:
    """The node id of a link `[node_id, output]`, else None (a plain value)."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
        return str(value[0])
    return None


def _first_link(inputs: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """The node the first of `names` that is a link points at."""
    return next((source for name in names if (source := _link(inputs.get(name))) is not None), None)


def _number(inputs: dict[str, Any], name: str, default: float, low: float = 0.0) -> float:
    """A numeric input, within [low, 1e9]; the default for anything else (a link, a string, NaN)."""
    value = inputs.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    if isinstance(value, float) and not math.isfinite(value):
        return default
    return max(low, min(_LARGEST, value))


def _batch(value: float) -> int:
    return int(max(1, min(MAX_BATCH, value)))


def _side(value: float) -> int:
    return max(1, min(MAX_SIDE, int(value)))


def _on_latent_grid(value: float) -> int:
    """A pixel size as a latent holds it: whole latent cells, at least one."""
    return _side(max(1, int(value) // LATENT_SCALE) * LATENT_SCALE)


def _scaled(width: int, height: int, new_width: float, new_height: float) -> tuple[float, float]:
    """ComfyUI's rule for a resize: a side given as 0 keeps the aspect ratio from the other; both 0 keep the size."""
    if new_width <= 0 and new_height <= 0:
        return width, height
    if new_width <= 0:
        return width * new_height / height, new_height
    if new_height <= 0:
        return new_width, height * new_width / width
    return new_width, new_height


class _Reader:
    def __init__(self, graph: dict[str, Any]) -> None:
        self.graph = graph

    def _node(self, node_id: str, depth: int) -> tuple[str, dict[str, Any]]:
        node = self.graph.get(node_id)
        if depth > _SEARCH_DEPTH or not isinstance(node, dict) or not isinstance(node.get("inputs") or {}, dict):
            raise UnreadableGraph(node_id)
        return str(node.get("class_type", "")), node.get("inputs") or {}

    def image_of_input(self, inputs: dict[str, Any], names: tuple[str, ...], depth: int) -> ImagePlan:
        source = _first_link(inputs, names)
        if source is None:
            raise UnreadableGraph("no image input")
        return self.image(source, depth + 1)

    def image(self, node_id: str, depth: int) -> ImagePlan:
        class_type, inputs = self._node(node_id, depth)
        if class_type == "LoadImage":  # a file of ComfyUI's input folder: its size is not known here
            return ImagePlan(Latent(512, 512, 1, 0, str(inputs.get("image", ""))))
        if class_type.startswith("VAEDecode") or _first_link(inputs, _IMAGE_INPUTS) is None:
            return ImagePlan(self.latent_of_input(inputs, depth))
        before = self.image_of_input(inputs, _IMAGE_INPUTS, depth)
        width, height = before.size
        method = str(inputs.get("upscale_method", "nearest-exact"))
        if class_type == "ImageScale":
            new = _scaled(width, height, _number(inputs, "width", 0), _number(inputs, "height", 0))
            step: Step = Scale(_side(new[0]), _side(new[1]), method, inputs.get("crop") == "center")
        elif class_type == "ImageScaleBy":
            factor = _number(inputs, "scale_by", 1.0)
            step = Scale(_side(round(width * factor)), _side(round(height * factor)), method, False)
        elif class_type == "ImageScaleToTotalPixels":
            factor = math.sqrt(_number(inputs, "megapixels", 1.0) * 1024 * 1024 / (width * height))
            step = Scale(_side(round(width * factor)), _side(round(height * factor)), method, False)
        elif class_type == "ImageQuantize":
            colors = int(min(256, _number(inputs, "colors", 256, low=1)))
            step = Quantize(colors, str(inputs.get("dither", "none")) != "none")
        else:
            return before  # an effect this stand-in does not draw: the picture as it came
        return replace(before, steps=(*before.steps, step))

    def latent_of_input(self, inputs: dict[str, Any], depth: int) -> Latent:
        source = _first_link(inputs, _LATENT_INPUTS) or _first_link(inputs, tuple(inputs))
        if source is None:
            raise UnreadableGraph("no latent input")
        return self.latent(source, depth + 1)

    def latent(self, node_id: str, depth: int) -> Latent:
        class_type, inputs = self._node(node_id, depth)
        if "width" in inputs and "height" in inputs and "batch_size" in inputs:  # EmptyLatentImage and its kin
            width, height = _number(inputs, "width", 512), _number(inputs, "height", 512)
            return Latent(_on_latent_grid(width), _on_latent_grid(height), _batch(_number(inputs, "batch_size", 1)))
        if class_type.startswith("VAEEncode"):
            picture = self.image_of_input(inputs, _IMAGE_INPUTS, depth)
            width, height = picture.size
            return replace(picture.latent, width=_on_latent_grid(width), height=_on_latent_grid(height))
        before = self.latent_of_input(inputs, depth)
        if "latent_image" in inputs:  # a sampler: what it draws comes from its seed and its positive prompt
            seed = inputs.get("seed", inputs.get("noise_seed", 0))
            text = self.text(_link(inputs.get("positive")), depth)
            return replace(before, seed=seed if isinstance(seed, int) else 0, text=text)
        if class_type == "LatentUpscale":
            width, height = _scaled(
                before.width, before.height, _number(inputs, "width", 0), _number(inputs, "height", 0)
            )
            return replace(before, width=_on_latent_grid(width), height=_on_latent_grid(height))
        if class_type == "LatentUpscaleBy":
            factor = _number(inputs, "scale_by", 1.0)
            width = round(before.width // LATENT_SCALE * factor) * LATENT_SCALE
            height = round(before.height // LATENT_SCALE * factor) * LATENT_SCALE
            return replace(before, width=_on_latent_grid(width), height=_on_latent_grid(height))
        if class_type == "RepeatLatentBatch":
            return replace(before, batch=_batch(before.batch * _number(inputs, "amount", 1)))
        if class_type == "LatentFromBatch":
            start, length = int(_number(inputs, "batch_index", 0)), _batch(_number(inputs, "length", 1))
            return replace(before, batch=max(1, min(length, before.batch - start)))
        return before

    def text(self, node_id: str | None, depth: int) -> str:
        """The positive prompt's text: the `text` of the conditioning node it comes from (through any combiners)."""
        if node_id is None:
            return ""
        _, inputs = self._node(node_id, depth)
        if isinstance(inputs.get("text"), str):
            return str(inputs["text"])
        return self.text(_first_link(inputs, tuple(inputs)), depth + 1)
