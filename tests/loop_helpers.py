"""Stand-ins for the loop's outside world, for tests that drive the real Scheduler with typed messages: the
backend's command queues (recorded, so a test can say which command a message must lead to) and the publisher."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pixflow.comfy import events as ce
from pixflow.comfy import messages as m
from pixflow.jobs.job import Job
from pixflow.loop.watcher import Watcher
from pixflow.scheduling.scheduler import Scheduler


class RecordingBackend:
    """Stands in for the backend's command queues: what the loop asks of the backend, in order."""

    name, url = "local", "http://127.0.0.1:9"

    def __init__(self) -> None:
        self.commands: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, command: str) -> Any:
        def record(*args: Any) -> None:
            self.commands.append((command, args))

        return record

    def named(self, command: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.commands if name == command]


def finish(scheduler: Scheduler, job: Job | None) -> None:
    """Run a sent job to `done` the way ComfyUI and the file writer would: success, the prompt's end, saved."""
    assert job is not None and job.backend is not None
    for event in (ce.ExecutionSuccess(job.prompt_id), ce.Executing(job.prompt_id, None)):
        scheduler.on_message(m.BackendEvent(job.backend, event))
    scheduler.on_message(m.OutputsSaved(job.job_id, []))
    assert job.state == "done", job.state


class RecordingPublisher:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, fields: dict[str, Any]) -> None:
        self.events.append((topic, fields))

    def job_event(self, prefix: str, job: Job, fields: dict[str, Any]) -> None:
        self.events.append((f"{prefix}{job.job_id}", {"seq": job.next_seq(), **fields}))


class LoopDriver:
    """The worker loop's poll, sockets and timers, without the worker: for tests of what runs on the loop
    (a backend's WebSocket, its HTTP transfers)."""

    def __init__(self) -> None:
        self.watcher = Watcher()
        self._timers: list[tuple[float, Callable[[], None]]] = []

    def schedule(self, delay: float, callback: Callable[[], None]) -> None:
        self._timers.append((time.monotonic() + delay, callback))

    def run_until(self, condition: Callable[[], Any], timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while not (result := condition()):
            if time.monotonic() > deadline:
                raise AssertionError(f"not met in {timeout}s: {condition}")
            self.watcher.serve_ready(self.watcher.poll(10))
            now = time.monotonic()
            due = [timer for timer in self._timers if timer[0] <= now]
            self._timers = [timer for timer in self._timers if timer[0] > now]
            for _, callback in due:
                callback()
        return result
