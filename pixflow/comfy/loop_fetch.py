"""A finished prompt's images, downloaded by the worker loop for every backend: the one download path.

When the job's `executed` events named the images, they are downloaded at once; otherwise (a job recovered after a
restart, a reconnect mid-prompt) /history is asked first, again every `HISTORY_INTERVAL` while ComfyUI has not
written it yet (it lags the last event a little). The loop asks libcurl for each answer (comfy/loop_http.py), then
hands the images to a file writer (comfy/threads.py) to write with their sidecar (comfy/outputs.py): a slow disk
never stalls the loop.
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
from pixflow.loop.watcher import Schedule

log = logging.getLogger(__name__)

HISTORY_ATTEMPTS = 50
HISTORY_INTERVAL = 0.1  # seconds between two asks of /history for an entry not written yet


class LoopFetch:
    def __init__(
        self,
        client: ComfyClient,
        http: LoopHttp,
        deliver: Callable[[LoopMessage], None],
        write: Callable[[WriteOutputs], None],
        schedule: Schedule,
    ) -> None:
        self._client, self._http, self._deliver, self._write = client, http, deliver, write
        self._schedule = schedule
        self._closed = False

    def start(self, command: FetchOutputs) -> None:
        """After the turn's commit (through the outbox)."""
        if command.node_outputs:
            self._next(command, images_in_history({"outputs": command.node_outputs}), [])
        else:
            self._ask_history(command, HISTORY_ATTEMPTS)

    def close(self) -> None:
        """The backend is leaving: no more asks of /history (its transfers end with its LoopHttp)."""
        self._closed = True

    def _ask_history(self, command: FetchOutputs, attempts_left: int) -> None:
        if self._closed:
            return
        url = self._client.history_url(command.prompt_id)
        self._http.get(url, lambda outcome: self._got_history(command, attempts_left - 1, outcome))

    def _got_history(self, command: FetchOutputs, attempts_left: int, outcome: Answer | str) -> None:
        try:
            if isinstance(outcome, str):
                raise self._client.unreachable(f"GET /history/{command.prompt_id}", outcome)
            entry = self._client.history_answer(outcome, command.prompt_id)
            if not entry and not attempts_left:
                raise BackendError(f"ComfyUI at {self._client.base_url} has no history for prompt {command.prompt_id}")
        except BackendError as e:
            self._deliver(OutputsFailed(command.job_id, str(e)))
            return
        if entry:
            self._guarded(command, lambda: self._next(command, images_in_history(entry), []))
        else:
            self._schedule(HISTORY_INTERVAL, lambda: self._ask_history(command, attempts_left))

    def _next(self, command: FetchOutputs, images: list[dict[str, Any]], datas: list[bytes]) -> None:
        if len(datas) < len(images):
            image = images[len(datas)]
            self._http.get(self._client.view_url(image), lambda outcome: self._got(command, images, datas, outcome))
            return
        self._write(WriteOutputs(command.job_id, command.job_dir, command.sidecar, images, datas, command.post))

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
        self._guarded(command, lambda: self._next(command, images, [*datas, data]))

    def _guarded(self, command: FetchOutputs, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as e:  # a bug (a history entry of an unexpected shape): reported against the job
            log.exception("saving the outputs of %s failed", command.job_id)
            self._deliver(CommandFailed(command.job_id, f"{type(e).__name__}: {e}"))
