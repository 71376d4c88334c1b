"""Stand-ins for the loop's outside world, for tests that drive the real Scheduler with typed messages: the
backend's command queues (recorded, so a test can say which command a message must lead to) and the publisher."""

from __future__ import annotations

from typing import Any

from pixflow.jobs.job import Job


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


class RecordingPublisher:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, fields: dict[str, Any]) -> None:
        self.events.append((topic, fields))

    def job_event(self, prefix: str, job: Job, fields: dict[str, Any]) -> None:
        self.events.append((f"{prefix}{job.job_id}", {"seq": job.next_seq(), **fields}))
