"""The worker's backend threads, shared by every backend: a fixed number, whatever the size of the pool.

- one socket opener (comfy/opener.py): every backend's WebSocket, opened without blocking, all at once;
- a control pool of `CONTROL_THREADS`: the control commands the loop does not carry out itself (cancels,
  withdrawals, reconciles, what a backend offers), each backend's in its order (its lane sends the next only once
  the last is done, comfy/control_lane.py), any backend's on any thread;
- `WRITER_THREADS` file writers: the images the loop downloaded, written with their sidecars.

One `BackendThreads` is made per worker (with its LoopLink, comfy/backend.py), so backends added and removed at run
time (a reload) share the same threads. They start with the first backend and stop when the last one has stopped.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from pixflow.comfy.opener import SocketOpener

log = logging.getLogger(__name__)

CONTROL_THREADS = 4  # a control command to a backend that does not answer holds one for up to http_timeout
WRITER_THREADS = 2  # a slow disk is slow for everyone: more writers would only queue in the kernel

Task = Callable[[], None]


class TaskPool:
    """`size` threads taking tasks from one queue, in order; a task that raises is logged and the thread goes on."""

    def __init__(self, name: str, size: int) -> None:
        # SimpleQueue: a put from the loop is one C call (queue.Queue's Condition cost the loop ~6 % of its CPU).
        self._tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True) for i in range(size)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, task: Task) -> None:
        self._tasks.put(task)

    def stop(self, timeout: float) -> None:
        """What was submitted before runs first; then the threads end."""
        for _ in self._threads:
            self._tasks.put(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def _serve(self) -> None:
        while (task := self._tasks.get()) is not None:
            try:
                task()
            except Exception:  # the task's owner reports its own failures: this is a bug, and the thread goes on
                log.exception("a backend task failed")


class BackendThreads:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._opener: SocketOpener | None = None
        self._control: TaskPool | None = None
        self._writers: TaskPool | None = None

    def acquire(self) -> None:
        """A backend starts: the threads start with the first."""
        with self._lock:
            self._users += 1
            if self._users == 1:
                self._opener = SocketOpener()
                self._control = TaskPool("backend-control", CONTROL_THREADS)
                self._writers = TaskPool("file-writer", WRITER_THREADS)
                self._opener.start()
                self._control.start()
                self._writers.start()

    def release(self, timeout: float = 5.0) -> None:
        """A backend has stopped: the threads stop with the last (what they were given is done first)."""
        with self._lock:
            self._users -= 1
            if self._users:
                return
            parts, (self._opener, self._control, self._writers) = (
                (self._opener, self._control, self._writers),
                (
                    None,
                    None,
                    None,
                ),
            )
        for part in parts:
            if part is not None:
                part.stop(timeout)

    @property
    def opener(self) -> SocketOpener:
        assert self._opener is not None, "a backend uses the threads between its start() and its release"
        return self._opener

    def control(self, task: Task) -> None:
        assert self._control is not None, "a backend uses the threads between its start() and its release"
        self._control.submit(task)

    def write(self, task: Task) -> None:
        assert self._writers is not None, "a backend uses the threads between its start() and its release"
        self._writers.submit(task)
