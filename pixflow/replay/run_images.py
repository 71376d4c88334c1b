"""The images of replayed prompts: the files each run "writes", their names, and the previews it sends.

A run's recording says which output node wrote files and when; the submitted graph says what they look like
(image_plan.py, pictures.py). So the recorded `executed` event and history entry of a run name files of its
own: as SaveImage does, `{prefix}_{counter:05}_.png` in the prefix's subfolder, the counter going on from the
highest one in the fixtures' output/ folder, one file per image of the graph's batch. An output that the
recording shows as cached keeps the recorded name (ComfyUI names the earlier run's file), drawn from this run's
graph. GET /view serves what a name was last written with; names no run wrote are the fixtures' own files.
Graphs whose outputs cannot be read (image_plan.py) keep the recording's names and files and previews.
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from pathlib import Path, PurePosixPath
from typing import Any

from pixflow.replay import pictures
from pixflow.replay.frames import preview_image, with_image
from pixflow.replay.image_plan import ImagePlan, Latent, output_plans, sampled_latent

MAX_SAVED = 10_000  # names kept for /view, as many as ComfyUI keeps history entries; the oldest go first
FileKey = tuple[str, str, str]  # (type, subfolder, filename), as /view names a file


class SavedImages:
    """The files the replay server has written, by name, and SaveImage's counter per prefix."""

    def __init__(self, output_dir: Path) -> None:
        self._output_dir = output_dir
        self._files: OrderedDict[FileKey, tuple[ImagePlan, int]] = OrderedDict()
        self._counters: dict[tuple[str, str], int] = {}

    def new_names(self, prefix: str, count: int) -> list[dict[str, str]] | None:
        """`count` fresh output entries for SaveImage's `filename_prefix`; None for a prefix ComfyUI would
        refuse or expand (outside the output folder, `%date%` patterns)."""
        path = PurePosixPath(prefix)
        if not prefix or "%" in prefix or path.is_absolute() or ".." in path.parts or not path.name:
            return None
        subfolder, name = str(path.parent) if str(path.parent) != "." else "", path.name
        counter = self._counters.get((subfolder, name))
        if counter is None:
            counter = self._highest_on_disk(subfolder, name) + 1
        self._counters[(subfolder, name)] = counter + count
        return [
            {"filename": f"{name}_{number:05}_.png", "subfolder": subfolder, "type": "output"}
            for number in range(counter, counter + count)
        ]

    def _highest_on_disk(self, subfolder: str, name: str) -> int:
        pattern = re.compile(rf"{re.escape(name)}_(\d+)_\.png")
        folder = self._output_dir / subfolder
        found = [pattern.fullmatch(path.name) for path in folder.glob("*.png")] if folder.is_dir() else []
        return max((int(match.group(1)) for match in found if match), default=0)

    def write(self, entry: dict[str, str], plan: ImagePlan, index: int) -> None:
        key = (entry.get("type", "output"), entry.get("subfolder", ""), entry["filename"])
        self._files.pop(key, None)
        self._files[key] = (plan, index)
        while len(self._files) > MAX_SAVED:
            self._files.popitem(last=False)

    def png(self, folder_type: str, subfolder: str, filename: str) -> bytes | None:
        """The PNG a run wrote under this name, or None: not one of the replay's own."""
        found = self._files.get((folder_type or "output", subfolder, filename))
        return pictures.png(*found) if found is not None else None


class RunImages:
    """One run's side of it: its graph's output plans, what its outputs were named, its sampler progress."""

    def __init__(self, graph: Any) -> None:
        self.graph: dict[str, Any] = graph if isinstance(graph, dict) else {}  # what POST /prompt got: any JSON
        self.plans = output_plans(self.graph)
        self.named: dict[str, list[dict[str, str]]] = {}  # recorded output node -> the entries it named
        self._cached: set[str] = set()
        self._steps: dict[str, int] = {}  # sampler node -> its steps, from the recorded progress
        self._previews: Counter[str] = Counter()

    def seen(self, kind: str, data: dict[str, Any]) -> None:
        """Follow the recorded events that decide names and previews: what was cached, how many steps."""
        if kind == "execution_cached":
            self._cached = {str(node) for node in data.get("nodes") or []}
        elif kind == "progress" and isinstance(data.get("max"), int):
            self._steps[str(data.get("node"))] = data["max"]

    def _plan_for(self, node: str) -> tuple[str, ImagePlan] | None:
        """The graph's SaveImage for a recorded output node: the same id, else the first one."""
        if node in self.plans:
            return node, self.plans[node]
        if not self.plans:
            return None
        first = min(self.plans)
        return first, self.plans[first]

    def executed(self, data: dict[str, Any], saved: SavedImages) -> bool:
        """Name the run's own files in an `executed` event's data (in place); False when left as recorded."""
        output = data.get("output")
        images = output.get("images") if isinstance(output, dict) else None
        node = str(data.get("node"))
        found = self._plan_for(node)
        if found is None or not isinstance(images, list) or not images:
            return False
        if not all(isinstance(image, dict) and image.get("type") == "output" for image in images):
            return False
        save_node, plan = found
        if node in self._cached and len(images) == plan.batch:
            names: list[dict[str, str]] | None = [dict(image) for image in images]
        else:
            prefix = (self.graph[save_node].get("inputs") or {}).get("filename_prefix", "ComfyUI")
            names = saved.new_names(str(prefix), plan.batch)
        if names is None:
            return False
        for index, entry in enumerate(names):
            saved.write(entry, plan, index)
        self.named[node] = names
        assert isinstance(output, dict)
        output["images"] = [dict(entry) for entry in names]
        return True

    def fill_history(self, outputs: Any) -> None:
        """A history entry's `outputs` with the names this run gave its files."""
        if not isinstance(outputs, dict):
            return
        for node, names in self.named.items():
            entry = outputs.setdefault(node, {})
            if isinstance(entry, dict):
                entry["images"] = [dict(name) for name in names]

    def preview(self, frame: bytes, node: str | None) -> bytes:
        """The recorded preview frame with the picture this run's sampler would show at this step."""
        found = preview_image(frame)
        latent = self._latent(node)
        if found is None or latent is None:
            return frame
        key = node or ""
        self._previews[key] += 1
        steps = self._steps.get(key) or self._graph_steps(key) or self._previews[key]
        return with_image(frame, pictures.preview(latent, self._previews[key], steps, found[0]))

    def _latent(self, node: str | None) -> Latent | None:
        if node is not None and node in self.graph:
            latent = sampled_latent(self.graph, node)
            if latent is not None:
                return latent
        found = self._plan_for(node or "")
        return found[1].latent if found is not None else None

    def _graph_steps(self, node: str) -> int | None:
        graph_node = self.graph.get(node)
        inputs = graph_node.get("inputs") if isinstance(graph_node, dict) else None
        steps = inputs.get("steps") if isinstance(inputs, dict) else None
        return steps if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0 else None
