"""The selected job: why it waits if it is queued, its error if it failed, the live preview, the saved outputs
(both drawn as pixels), the time spent in each stage, its parameters. Widgets are touched only when what they show
changes.

An output is read from its path when this machine can read it (the monitor next to the worker); otherwise it is
asked over the wire, once, with `fetch_output` (a `FETCH_MAX_SIDE` thumbnail) through the `fetch` callback, and
shown when `take_fetched` gets the answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PIL import Image
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from pixflow_monitor.clock import Clock
from pixflow_monitor.detail_text import error_text, params_text, summary_text, timeline_text, wait_text
from pixflow_monitor.halfblock import decode
from pixflow_monitor.job_view import JobView, Preview

MAX_OUTPUTS_SHOWN = 4
FETCH_MAX_SIDE = 256  # thumbnails over the wire: the pane shows at most 16 rows of half-blocks
FETCHING = "not on this machine's disk; fetching it from the worker…"
Fetch = Callable[[str, int, int], object]  # (job_id, index, max_side): send a fetch_output request
NO_JOB = "No job selected. Move through the table with ↑ ↓."
SECTIONS = ("wait", "error", "preview", "outputs", "timeline", "params")
TITLES = {
    "wait": "Waiting for a backend",
    "error": "Error",
    "preview": "Preview",
    "outputs": "Outputs",
    "timeline": "Stages",
    "params": "Parameters",
}


class JobDetail(VerticalScroll):
    DEFAULT_CSS = """
    JobDetail { border: round $primary 50%; border-title-color: $text; padding: 0 1; }
    JobDetail .heading { text-style: bold; color: $text-muted; margin: 1 0 0 0; }
    JobDetail #detail-error { color: $error; }
    """

    def __init__(
        self,
        image_class: Callable[..., Widget],
        clock: Clock,
        read_output: Callable[[str], bytes],
        fetch: Fetch | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._image_class = image_class
        self._clock = clock
        self._read_output = read_output
        self._fetch = fetch
        self._shown: dict[str, object] = {}
        self._outputs: dict[str, Image.Image | str] = {}
        self._notes: dict[str, str] = {}  # path -> how it was got, when not from this disk
        self._fetching: dict[tuple[str, int], str] = {}  # (job_id, index) -> path, for fetch_output in flight
        self._preview: tuple[Preview | None, Image.Image | str | None] = (None, None)

    def compose(self) -> ComposeResult:
        yield Static(NO_JOB, id="detail-summary")
        for section in SECTIONS:
            yield Static(TITLES[section], classes="heading", id=f"heading-{section}")
            yield Static(id=f"detail-{section}")
            if section == "preview":
                yield self._image_class(max_rows=16, id="image-preview")
            if section == "outputs":
                for index in range(MAX_OUTPUTS_SHOWN):
                    yield self._image_class(max_rows=16, id=f"image-output-{index}")

    def on_mount(self) -> None:
        self.border_title = "Job"
        self.show(None)

    def show(self, job: JobView | None) -> None:
        if job is None:
            self.border_title = "Job"
            self._put("detail-summary", NO_JOB)
            for section in SECTIONS:
                self._section(section, None)
            self._put_image("image-preview", None, None)
            for index in range(MAX_OUTPUTS_SHOWN):
                self._put_image(f"image-output-{index}", None, None)
            return
        now = self._clock.now_ms()
        self.border_title = f"Job {job.job_id}"
        self._put("detail-summary", summary_text(job, now))
        self._section("wait", wait_text(job))
        self._section("error", error_text(job.error) if job.error else None)
        self._show_preview(job)
        self._show_outputs(job)
        self._section("timeline", timeline_text(job, now))
        self._section("params", params_text(job) if job.has_snapshot else Text("asking the worker…", "dim"))

    # Touching widgets only on change.
    def _put(self, widget_id: str, content: Text | str | None) -> None:
        """Show `content` in a Static; None hides it."""
        widget = next(self.query(f"#{widget_id}").results(Static), None)
        if widget is None:  # the app is closing: a widget's children are removed before it is
            return
        if widget.display != (content is not None):
            widget.display = content is not None
        if content is not None and self._shown.get(widget_id) != content:
            self._shown[widget_id] = content
            widget.update(content)

    def _section(self, name: str, content: Text | None, title: Text | str | None = None) -> None:
        self._put(f"heading-{name}", (title or TITLES[name]) if content is not None else None)
        self._put(f"detail-{name}", content)

    def _put_image(self, widget_id: str, image: Image.Image | None, key: object) -> None:
        widget = next(iter(self.query(f"#{widget_id}")), None)
        if widget is None:  # the app is closing
            return
        if widget.display != (image is not None):
            widget.display = image is not None
        widget.set_image(image, key)  # type: ignore[attr-defined]

    # Pictures.
    def _show_preview(self, job: JobView) -> None:
        preview = job.preview
        if preview is None:
            asked = bool(job.params.get("previews"))
            if job.finished:
                hint = None
            elif asked:
                hint = Text("waiting for the first frame", "dim")
            else:
                hint = Text("none: the job was submitted without previews: true", "dim")
            self._section("preview", hint)
            self._put_image("image-preview", None, None)
            return
        if self._preview[0] is not preview:
            try:
                self._preview = (preview, decode(preview.image))
            except Exception as error:  # a frame Pillow cannot read: say so, keep going
                self._preview = (preview, f"unreadable {preview.format} frame: {error}")
        image = self._preview[1]
        step = f"step {preview.step}" if preview.step is not None else "latest frame"
        if isinstance(image, Image.Image):
            about = Text(f"{step}, {preview.format} {image.width}x{image.height}", "dim")
            self._put_image("image-preview", image, (job.job_id, id(preview)))
        else:
            about = Text(f"{step}: {image}", "red")
            self._put_image("image-preview", None, None)
        self._section("preview", about)

    def _show_outputs(self, job: JobView) -> None:
        text = Text()
        for index, output in enumerate(job.outputs):
            path = str(output.get("path") or "")
            size = f"{output.get('width')}x{output.get('height')}" if output.get("width") else "size unknown"
            text.append(f"#{index} {size}, {output.get('bytes', '?')} bytes\n", "dim")
            text.append(f"{path}\n")
            if isinstance(problem := self._load_output(path, job.job_id, index), str):
                text.append(f"   {problem}\n", "yellow")
            elif path in self._notes:
                text.append(f"   {self._notes[path]}\n", "dim")
        text.rstrip()
        self._section("outputs", text if job.outputs else None)
        for index in range(MAX_OUTPUTS_SHOWN):
            path = str(job.outputs[index].get("path") or "") if index < len(job.outputs) else ""
            image = self._load_output(path, job.job_id, index) if path else None
            shown = image if isinstance(image, Image.Image) else None
            self._put_image(f"image-output-{index}", shown, (job.job_id, path) if shown else None)

    def _load_output(self, path: str, job_id: str, index: int) -> Image.Image | str:
        """The saved image, read once; when this disk does not have it (the worker writes on another host), asked
        over the wire; or why it cannot be shown."""
        if path not in self._outputs:
            if len(self._outputs) > 64:
                self._outputs.clear()
                self._notes.clear()
            try:
                self._outputs[path] = decode(self._read_output(path))
            except OSError as error:
                if self._fetch is None:
                    self._outputs[path] = f"not readable from here: {error.strerror or error}"
                else:
                    self._outputs[path] = FETCHING
                    self._fetching[(job_id, index)] = path
                    self._fetch(job_id, index, FETCH_MAX_SIDE)
            except Exception as error:  # not an image Pillow can read
                self._outputs[path] = f"not an image the monitor can read: {error}"
        return self._outputs[path]

    def take_fetched(self, job_id: str, index: int, reply: dict[str, Any] | None, problem: str = "") -> bool:
        """The answer to a `fetch_output` (`reply`, possibly an error), or why none came (`problem`). True when it
        was one this pane asked for (the caller then shows the job again)."""
        path = self._fetching.pop((job_id, index), None)
        if path is None:
            return False
        self._notes.pop(path, None)
        if reply is not None and reply.get("type") == "image" and isinstance(reply.get("image"), bytes):
            try:
                self._outputs[path] = decode(reply["image"])
            except Exception as error:  # not an image Pillow can read
                self._outputs[path] = f"fetched from the worker, but not an image the monitor can read: {error}"
                return True
            size = f"{reply.get('width')}x{reply.get('height')}"
            self._notes[path] = f"not on this disk: fetched from the worker ({reply.get('format')} {size})"
        elif reply is not None:
            self._outputs[path] = (
                f"not on this disk, and the worker did not send it: {reply.get('code', reply.get('type'))}: "
                f"{reply.get('message', '')}"
            )
        else:
            self._outputs[path] = f"not on this disk, and fetching it failed: {problem}"
        return True
