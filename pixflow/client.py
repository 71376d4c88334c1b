"""A Python client of the wire protocol: requests over DEALER, events over SUB. Used by the CLI and tests."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import zmq

from pixflow.errors import PixflowError
from pixflow.protocol import DEFAULT_PUB_ADDR, DEFAULT_REQ_ADDR, PROTOCOL_VERSION, job_topic, pack, unpack
from pixflow.vocabulary import JOB_TOPIC_PREFIXES


class ClientError(PixflowError):
    """The worker answered `error`, or did not answer in time."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Client:
    def __init__(
        self,
        req_addr: str = DEFAULT_REQ_ADDR,
        pub_addr: str = DEFAULT_PUB_ADDR,
        timeout: float = 5.0,
        context: zmq.Context | None = None,
    ) -> None:
        self._context = context or zmq.Context.instance()
        self.req_addr, self.pub_addr, self.timeout = req_addr, pub_addr, timeout
        self._dealer = self._context.socket(zmq.DEALER)
        self._dealer.setsockopt(zmq.LINGER, 0)
        self._dealer.connect(req_addr)
        self._sub: zmq.Socket | None = None
        self._req_ids = itertools.count(1)

    def close(self) -> None:
        self._dealer.close(0)
        if self._sub is not None:
            self._sub.close(0)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Requests.
    def call(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send a request and return the reply; raise ClientError on an `error` reply or a timeout."""
        reply = self.request({"type": kind, "v": PROTOCOL_VERSION, **fields})
        if reply.get("type") == "error":
            raise ClientError(reply.get("code", "?"), reply.get("message", ""))
        return reply

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        req_id = next(self._req_ids)
        self._dealer.send_multipart([b"", pack({**message, "req_id": req_id})])
        return self._await_reply(req_id)

    def send_raw(self, payload: bytes) -> dict[str, Any]:
        """Send arbitrary bytes as a request payload (for tests of bad input)."""
        self._dealer.send_multipart([b"", payload])
        return self._await_reply(None)

    def _await_reply(self, req_id: int | None) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if not self._dealer.poll(int(remaining * 1000) + 1):
                break
            frames = self._dealer.recv_multipart()
            reply = unpack(frames[-1])
            if req_id is None or reply.get("req_id") == req_id:
                return reply
        raise ClientError("timeout", f"no reply from the worker at {self.req_addr} within {self.timeout:g}s")

    def ping(self) -> dict[str, Any]:
        return self.call("ping")

    def generate(self, prompt: str, **params: Any) -> str:
        return self.call("generate", prompt=prompt, **params)["job_id"]

    def status(self, job_id: str | None = None) -> dict[str, Any]:
        return self.call("status", **({"job_id": job_id} if job_id else {}))

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.call("cancel", job_id=job_id)

    # Events.
    def subscribe(self, *topics: str | bytes) -> None:
        if self._sub is None:
            self._sub = self._context.socket(zmq.SUB)
            self._sub.setsockopt(zmq.LINGER, 0)
            self._sub.connect(self.pub_addr)
        for topic in topics:
            self._sub.setsockopt(zmq.SUBSCRIBE, topic if isinstance(topic, bytes) else topic.encode())

    def subscribe_job(self, job_id: str) -> None:
        self.subscribe(*(job_topic(prefix, job_id) for prefix in JOB_TOPIC_PREFIXES))

    def wait_subscribed(self, timeout: float = 5.0) -> None:
        """A SUB socket misses what is published before its subscription reaches the PUB: wait for it
        by waiting for the first worker.stats message (published every second)."""
        self.subscribe(b"worker.stats")
        self.next_event(timeout, want=lambda topic, _: topic == "worker.stats")

    def next_event(self, timeout: float, want: Any = None) -> tuple[str, dict[str, Any]]:
        assert self._sub is not None, "subscribe() first"
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if not self._sub.poll(int(remaining * 1000) + 1):
                break
            topic, payload = self._sub.recv_multipart()
            event = (topic.decode(), unpack(payload))
            if want is None or want(*event):
                return event
        raise ClientError("timeout", f"no event from {self.pub_addr} within {timeout:g}s")

    def follow(self, job_id: str, timeout: float = 60.0) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield a job's events until its terminal job.state (call subscribe_job first)."""
        deadline = time.monotonic() + timeout
        while True:
            topic, event = self.next_event(deadline - time.monotonic(), want=lambda t, e: e.get("job_id") == job_id)
            yield topic, event
            if topic.startswith("job.state.") and event.get("to") in ("done", "failed", "cancelled"):
                return
