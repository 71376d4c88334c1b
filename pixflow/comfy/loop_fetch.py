"""A finished prompt's images downloaded by the worker loop, when its `executed` events named them.

The loop asks libcurl for each image (comfy/loop_http.py), then hands them to a download thread to write with their
sidecar (comfy/outputs.py): the files and messages are those of a download done on the thread, and a slow disk
never stalls the loop. Without the events' outputs (a job recovered after a restart, a reconnect mid-prompt) the
download threads ask /history first and download themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pixflow.comfy.client import Answer, ComfyClient
from pixflow.comfy.commands import FetchOutputs, WriteOutputs
from pixflow.comfy.loop_http import LoopHttp
from pixflow.comfy.messages import CommandFailed, LoopMessage, OutputsFailed
from pixflow.comfy.outputs import images_in_history
from pixflow.errors import BackendError

log = logging.getLogger(__name__)


class LoopFetch:
    def __init__(
        self,
        client: ComfyClient,
        http: LoopHttp,
        deliver: Callable[[LoopMessage], None],
        write: Callable[[WriteOutputs], None],
    ) -> None:
        self._client, self._http, self._deliver, self._write = client, http, deliver, write

    def start(self, command: FetchOutputs) -> None:
        """After the turn's commit (through the outbox)."""
        images = images_in_history({"outputs": command.node_outputs or {}})
        self._next(command, images, [])

    def _next(self, command: FetchOutputs, images: list[dict[str, Any]], datas: list[bytes]) -> None:
        if len(datas) < len(images):
            image = images[len(datas)]
            self._http.get(self._client.view_url(image), lambda outcome: self._got(command, images, datas, outcome))
            return
        self._write(WriteOutputs(command.job_id, command.job_dir, command.sidecar, images, datas))

    def _got(
        self, command: FetchOutputs, images: list[dict[str, Any]], datas: list[bytes], outcome: Answer | str
    ) -> None:
        filename = images[len(datas)]["filename"]
        try:
            if isinstance(outcome, str):
                raise self._client.unreachable("GET /view", outcome)
            data = self._client.image_of(outcome, filename)
        except BackendError as e:
            self._deliver(OutputsFailed(command.job_id, str(e)))
            return
        try:
            self._next(command, images, [*datas, data])
        except Exception as e:  # a bug: reported against the job, as on a download thread
            log.exception("saving the outputs of %s failed", command.job_id)
            self._deliver(CommandFailed(command.job_id, f"{type(e).__name__}: {e}"))
