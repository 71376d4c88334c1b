"""Events on the PUB socket: two frames, [topic, msgpack map]. The loop's parts see it as an EventSink
(loop/sink.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import zmq

from pixflow.loop.outbox import Outbox
from pixflow.loop.sink import Sequenced
from pixflow.protocol import now_ms, pack


class Publisher:
    def __init__(self, socket: zmq.Socket[bytes], outbox: Outbox | None = None) -> None:
        self._socket = socket
        self._outbox = outbox or Outbox()  # events wait for the loop turn's commit
        # Called with every event as sent (the worker's metrics count and read them); must not raise.
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []

    def publish(self, topic: str, fields: dict[str, Any]) -> None:
        message = {"ts": now_ms(), **fields}
        # NOBLOCK: a PUB socket drops for a subscriber whose queue is full rather than block.
        self._outbox.send(self._socket.send_multipart, [topic.encode(), pack(message)], zmq.NOBLOCK)
        for observe in self.observers:
            observe(topic, message)

    def job_event(self, prefix: str, job: Sequenced, fields: dict[str, Any]) -> None:
        self.publish(f"{prefix}{job.job_id}", {"job_id": job.job_id, "seq": job.next_seq(), **fields})
