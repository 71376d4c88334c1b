"""A backend's control commands, one at a time and in the order the loop gave them.

A submission is sent by the loop itself, for every backend (comfy/loop_http.py): its input images uploaded one
after another, then POST /prompt, with no thread hop on the way to ComfyUI or back. Every other command (cancels,
withdrawals, reconciles, what the backend offers) goes to the worker's shared control pool, and the next command
waits for its `ControlDone`. Order matters: a cancel must never overtake the submission of its prompt.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from pixflow.comfy import commands
from pixflow.comfy.client import Answer, ComfyClient
from pixflow.comfy.loop_http import LoopHttp
from pixflow.comfy.messages import CommandFailed, JobResult, LoopMessage, SubmitFailed
from pixflow.errors import BackendError
from pixflow.loop.watcher import Schedule

log = logging.getLogger(__name__)


class ControlLane:
    def __init__(
        self,
        client: ComfyClient,
        http: LoopHttp,
        to_pool: Callable[[commands.PoolCommand], None],
        deliver: Callable[[LoopMessage], None],
        schedule: Schedule,
    ) -> None:
        self._client, self._http = client, http
        self._to_pool, self._deliver, self._schedule = to_pool, deliver, schedule
        self._waiting: deque[commands.Command] = deque()
        self._busy = False  # a command is out (on the pool, or its transfers in flight)

    def add(self, command: commands.Command) -> None:
        """On the loop, once the turn that asked for it is committed."""
        self._waiting.append(command)
        self._next()

    def thread_done(self) -> None:
        """On the loop: the control pool has carried out the command it was given."""
        self._busy = False
        self._next()

    def clear(self) -> None:
        self._waiting.clear()

    def _next(self) -> None:
        if self._busy or not self._waiting:
            return
        command = self._waiting.popleft()
        self._busy = True
        if isinstance(command, commands.Submit):
            self._upload(command, 0)
        else:
            self._to_pool(command)

    def _upload(self, command: commands.Submit, index: int) -> None:
        """The input images one after another (a read of pixflow's own copy, on the loop), then the prompt."""
        try:
            self._send_next(command, index)
        except Exception as e:  # a bug (a value JSON cannot carry): the job fails, the lane and the loop go on
            log.exception("submitting %s failed", command.job_id)
            failed = CommandFailed(command.job_id, f"{type(e).__name__}: {e}")
            self._schedule(0.0, lambda: self._finish(failed))

    def _send_next(self, command: commands.Submit, index: int) -> None:
        if index == len(command.images):
            url, body = self._client.submit_request(command.graph, command.prompt_id, command.client_id)
            self._http.request(url, body, lambda outcome: self._submitted(command, outcome))
            return
        name, path = command.images[index]
        try:
            data = path.read_bytes()
        except OSError as e:  # answered in a turn of its own, as a transfer's answer is: never inside add()
            result = commands.missing_image(command.job_id, e)
            self._schedule(0.0, lambda: self._finish(result))
            return
        url, form = self._client.upload_request(data, name)
        self._http.request(url, form, lambda outcome: self._uploaded(command, index, outcome))

    def _uploaded(self, command: commands.Submit, index: int, outcome: Answer | str) -> None:
        try:
            if isinstance(outcome, str):
                raise self._client.unreachable("POST /upload/image", outcome)
            self._client.uploaded(outcome, command.images[index][0])
        except BackendError as e:
            self._finish(SubmitFailed(command.job_id, str(e)))
            return
        self._upload(command, index + 1)

    def _submitted(self, command: commands.Submit, outcome: Answer | str) -> None:
        try:
            if isinstance(outcome, str):
                raise self._client.unreachable("POST /prompt", outcome)
            result = commands.submit_result(command.job_id, self._client.submitted(outcome))
        except BackendError as e:
            result = SubmitFailed(command.job_id, str(e))
        self._finish(result)

    def _finish(self, result: JobResult) -> None:
        self._busy = False
        self._deliver(result)
        self._next()
