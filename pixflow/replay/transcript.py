"""The JSONL transcript a recording is written as (the format fixtures/*/README.md describes).

Each line is `{"t": seconds since the WebSocket connected, "kind": ..., "data": ...}`, kind one of
`http_post_prompt`, `ws_json`, `ws_binary`, `ws_sent`, `http_get_history` and `http_post_interrupt`.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from typing import IO, Any


class Rewrites:
    """Literal replacements applied to written text, e.g. this machine's ComfyUI folder -> "/srv/ComfyUI",
    so that fixtures carry no local paths. Longest first, so a path is rewritten before any of its prefixes."""

    def __init__(self, replacements: Mapping[str, str] | None = None) -> None:
        self._pairs = sorted((replacements or {}).items(), key=lambda item: len(item[0]), reverse=True)

    def __call__(self, text: str) -> str:
        for old, new in self._pairs:
            text = text.replace(old, new)
        return text


class Transcript:
    """Writes JSONL lines stamped with seconds since it was made (right after the WebSocket connected)."""

    def __init__(self, stream: IO[str], rewrites: Rewrites) -> None:
        self._stream = stream
        self._t0 = time.monotonic()
        self._rewrites = rewrites
        self.lines = 0

    def write(self, kind: str, data: Any) -> None:
        line = json.dumps({"t": round(time.monotonic() - self._t0, 4), "kind": kind, "data": data})
        self._stream.write(self._rewrites(line) + "\n")
        self._stream.flush()  # a failed run leaves every line up to the failure
        self.lines += 1

    def write_binary(self, frame: bytes) -> None:
        self.write("ws_binary", {"len": len(frame), "b64": base64.b64encode(frame).decode("ascii")})
