"""The web server's one connection to the worker, shared by every HTTP request: a DEALER for requests and a SUB
for events, on zmq.asyncio, in the server's event loop.

- Requests: many in flight on the one DEALER, replies matched by `req_id` (docs/protocol.md, "Transport"). Each
  has a timeout; one that runs out answers `timeout` (504) and its late reply, if any, is dropped. Nothing is
  queued while the worker is unreachable (ZMQ_IMMEDIATE): such a call fails at once. Every request that makes a
  job carries an id chosen before it is sent (app.py), so a late delivery never makes a job nobody knows about.
- Events: one SUB subscribed to every topic, read by one task that hands each event to the hub. 500 browsers
  cost the worker one subscriber.

CURVE keys as pixflow.client's (`--server-key`, `--client-key`, else $PIXFLOW_SERVER_KEY, $PIXFLOW_CLIENT_KEY).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import Any

import zmq
import zmq.asyncio

from pixflow.client.keys import ClientKeys
from pixflow.protocol import PROTOCOL_VERSION, pack, unpack

log = logging.getLogger("pixflow.web")
OnEvent = Callable[[str, dict[str, Any]], None]
SUB_HWM = 100_000  # events the SUB holds before the transport drops the newest (the hub reads fast)


def error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "v": PROTOCOL_VERSION, "code": code, "message": message}


class WorkerLink:
    def __init__(self, req_addr: str, pub_addr: str, timeout: float = 10.0, keys: ClientKeys | None = None) -> None:
        self.req_addr, self.pub_addr, self.timeout, self.keys = req_addr, pub_addr, timeout, keys
        self._context = zmq.asyncio.Context()
        self._dealer: zmq.asyncio.Socket | None = None
        self._sub: zmq.asyncio.Socket | None = None
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._req_ids = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self.events_read = 0

    def _socket(self, kind: int) -> zmq.asyncio.Socket:
        sock = self._context.socket(kind)
        if self.keys is not None:
            sock.curve_serverkey = self.keys.server_public
            sock.curve_publickey = self.keys.public
            sock.curve_secretkey = self.keys.secret
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        return sock

    async def start(self, on_event: OnEvent) -> None:
        self._dealer = self._socket(zmq.DEALER)
        self._dealer.setsockopt(zmq.IMMEDIATE, 1)
        self._dealer.connect(self.req_addr)
        self._sub = self._socket(zmq.SUB)
        self._sub.setsockopt(zmq.RCVHWM, SUB_HWM)
        self._sub.setsockopt(zmq.SUBSCRIBE, b"")
        self._sub.connect(self.pub_addr)
        self._tasks = [
            asyncio.create_task(self._read_replies(self._dealer)),
            asyncio.create_task(self._read_events(self._sub, on_event)),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for future in self._waiting.values():
            if not future.done():
                future.set_result(error("shutting_down", "the web server is stopping"))
        for sock in (self._dealer, self._sub):
            if sock is not None:
                sock.close(0)
        self._context.term()

    async def call(self, kind: str, fields: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """The worker's reply to one request (an `error` reply as it came); `timeout` as an error when none came."""
        assert self._dealer is not None, "start() first"
        req_id = next(self._req_ids)
        try:
            payload = pack({**fields, "type": kind, "v": PROTOCOL_VERSION, "req_id": req_id})
        except (OverflowError, TypeError, ValueError) as e:  # an integer past 64 bits: no protocol value
            return error("invalid_params", f"a field cannot be sent to the worker: {e}")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[req_id] = future
        wait = self.timeout if timeout is None else timeout
        try:
            try:
                await self._dealer.send_multipart([b"", payload], flags=zmq.NOBLOCK)
            except zmq.Again:
                return error("timeout", f"the worker at {self.req_addr} cannot be reached (no connection)")
            return await asyncio.wait_for(future, wait)
        except TimeoutError:
            return error("timeout", f"no reply from the worker at {self.req_addr} within {wait:g}s")
        finally:
            self._waiting.pop(req_id, None)

    async def _read_replies(self, dealer: zmq.asyncio.Socket) -> None:
        while True:
            frames = await dealer.recv_multipart()
            try:
                reply = unpack(frames[-1])
            except Exception:  # msgpack raises several unrelated types for bad input
                continue
            if not isinstance(reply, dict):
                continue
            req_id = reply.get("req_id")
            future = self._waiting.get(req_id) if isinstance(req_id, int) else None
            if future is not None and not future.done():
                future.set_result(reply)

    async def _read_events(self, sub: zmq.asyncio.Socket, on_event: OnEvent) -> None:
        while True:
            frames = await sub.recv_multipart()
            if len(frames) != 2:
                continue  # not an event of this protocol
            try:
                event = unpack(frames[1])
            except Exception:  # msgpack raises several unrelated types for bad input
                continue
            if not isinstance(event, dict):
                continue
            self.events_read += 1
            try:
                on_event(frames[0].decode(errors="replace"), event)
            except Exception:
                log.exception("an event could not be handed to the streams")
