"""The worker loop's inbox: any thread posts, only the loop reads.

A queue carries the items; a pipe carries wake-ups, so the loop's zmq.Poller can wait on its
sockets and on this inbox at once without polling on a timer. One wake-up stands for every item posted
until the loop drains: a burst of WebSocket frames costs one write and one turn of the loop, not one each.
"""

from __future__ import annotations

import contextlib
import os
import queue
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    def __init__(self) -> None:
        self._items: queue.SimpleQueue[T] = queue.SimpleQueue()
        self.wake_fd, self._wake_write = os.pipe()
        os.set_blocking(self.wake_fd, False)
        os.set_blocking(self._wake_write, False)
        self._woken = False  # a wake-up is in the pipe and the loop has not drained since

    def post(self, item: T) -> None:
        self._items.put(item)  # put before the wake-up, so a woken reader always finds it
        if self._woken:
            return  # the loop is due to drain, and will find this item (see drain)
        self._woken = True
        # A full pipe holds wake-ups already: the reader is due anyway.
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_write, b"\0")

    def drain(self) -> list[T]:
        try:
            while os.read(self.wake_fd, 65536):
                pass
        except BlockingIOError:
            pass
        # After emptying the pipe, before reading the items: a post that still saw the flag set has put its item
        # already (found below); one after this line writes a wake-up of its own (at worst a spare one).
        self._woken = False
        items: list[T] = []
        while True:
            try:
                items.append(self._items.get_nowait())
            except queue.Empty:
                return items

    def close(self) -> None:
        os.close(self.wake_fd)
        os.close(self._wake_write)
