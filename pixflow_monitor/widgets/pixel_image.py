"""An image in the terminal: half-block characters (the default, exact everywhere), or a graphics protocol."""

from __future__ import annotations

from typing import Any, Protocol

from PIL import Image
from textual.geometry import Size
from textual.widget import Widget

from pixflow_monitor.halfblock import HalfBlocks, fit


class ImageView(Protocol):
    def set_image(self, image: Image.Image | None, key: object) -> None: ...


class PixelImage(Widget):
    """An image drawn with ▀ and two colours per cell, scaled by whole factors (nearest neighbour)."""

    DEFAULT_CSS = """
    PixelImage { width: auto; height: auto; }
    """

    def __init__(self, max_rows: int = 16, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_rows = max_rows
        self._blocks: HalfBlocks | None = None
        self._key: object = None

    def set_image(self, image: Image.Image | None, key: object) -> None:
        """Show `image`; `key` names it, so setting the same image again costs nothing."""
        if key == self._key:
            return
        self._key = key
        self._blocks = HalfBlocks(image, self.max_rows) if image is not None else None
        self.refresh(layout=True)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return self._blocks.size(container.width)[0] if self._blocks else 0

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._blocks.size(width)[1] if self._blocks else 0

    def render(self) -> Any:
        return self._blocks if self._blocks is not None else ""


def graphics_image_class(max_cols: int = 48) -> type[Widget] | None:
    """textual-image's widget when the terminal speaks Sixel or the kitty graphics protocol, else None.

    Call it before the app starts: importing textual-image queries the terminal.
    """
    try:
        from textual_image.renderable import Image as Detected
        from textual_image.renderable import SixelImage, TGPImage
        from textual_image.widget import Image as GraphicsWidget
    except Exception:  # no terminal to ask, or textual-image missing: half-blocks it is
        return None
    if Detected not in (SixelImage, TGPImage):
        return None

    class GraphicsImage(GraphicsWidget):  # type: ignore[misc, valid-type]
        def __init__(self, max_rows: int = 16, **kwargs: Any) -> None:
            super().__init__(None, **kwargs)
            self.max_rows = max_rows
            self._key: object = None

        def set_image(self, image: Image.Image | None, key: object) -> None:
            if key == self._key:
                return
            self._key = key
            if image is None:
                self.image = None
                return
            columns, pixel_rows = fit(image.width, image.height, max_cols, self.max_rows)
            self.styles.width, self.styles.height = columns, -(-pixel_rows // 2)
            factor = max(1, 256 // max(image.width, image.height))  # crisp pixels when the terminal scales it
            self.image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)

    return GraphicsImage
