"""A backend's control commands, one at a time and in the order the loop gave them.

A plain submission (no input images) of a plain-HTTP backend is sent by the loop itself (comfy/loop_http.py): no
thread hop on the way to ComfyUI or back. Every other command (uploads, cancels, withdrawals, reconciles, what the
backend offers) goes to the backend's control thread, and the next command waits for its `ControlDone`. Order
matters: a cancel must never overtake the submission of its prompt.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from pixflow.comfy import commands
from pixflow.comfy.client import Answer, ComfyClient
from pixflow.comfy.loop_http import LoopHttp
from pixflow.comfy.messages import LoopMessage, SubmitFailed
from pixflow.errors import BackendError


class ControlLane:
    def __init__(
        self,
        client: ComfyClient,
        http: LoopHttp | None,
        to_thread: Callable[[commands.Command], None],
        deliver: Callable[[LoopMessage], None],
    ) -> None:
        self._client, self._http = client, http
        self._to_thread, self._deliver = to_thread, deliver
        self._waiting: deque[commands.Command] = deque()
        self._busy = False  # a command is out (on the thread, or its POST in flight)

    def add(self, command: commands.Command) -> None:
        """On the loop, once the turn that asked for it is committed."""
        if self._http is None:
            self._to_thread(command)  # the thread alone carries out commands, in order: nothing to wait for
            return
        self._waiting.append(command)
        self._next()

    def thread_done(self) -> None:
        """On the loop: the control thread has carried out the command it was given."""
        if self._http is not None:
            self._busy = False
            self._next()

    def clear(self) -> None:
        self._waiting.clear()

    def _next(self) -> None:
        if self._busy or not self._waiting:
            return
        command = self._waiting.popleft()
        self._busy = True
        if self._http is not None and isinstance(command, commands.Submit) and not command.images:
            url, body = self._client.submit_request(command.graph, command.prompt_id, command.client_id)
            self._http.request(url, body, lambda outcome: self._submitted(command, outcome))
        else:
            self._to_thread(command)

    def _submitted(self, command: commands.Submit, outcome: Answer | str) -> None:
        self._busy = False
        try:
            if isinstance(outcome, str):
                raise self._client.unreachable("POST /prompt", outcome)
            result = commands.submit_result(command.job_id, self._client.submitted(outcome))
        except BackendError as e:
            result = SubmitFailed(command.job_id, str(e))
        self._deliver(result)
        self._next()
