"""The worker's backend threads, shared by every backend: a fixed number, whatever the size of the pool.

- one socket opener (comfy/opener.py): every backend's WebSocket, opened without blocking, all at once;
- a control pool of `CONTROL_THREADS`: the control commands the loop does not carry out itself (cancels,
  withdrawals, reconciles, what a backend offers), each backend's in its order (its lane sends the next only once
  the last is done, comfy/control_lane.py), any backend's on any thread;
- `WRITER_THREADS` file writers: the images the loop downloaded, written with their sidecars;
- `STEP_PROCESSES` processes for the sprite steps (pixflow/sprites), started the first time a workflow has steps:
  a writer hands each image to one and waits. The steps are CPU work in numpy and Python, 10-20 ms a sprite; on a
  writer thread they held the GIL the loop needs (measured by `./dev bench sprites`: at 50 sprites/s `generate`'s
  p99 went from 4.8 ms to 21 ms, and the worker fell behind at 40 jobs/s); in processes of their own they only
  share the CPU.

One `BackendThreads` is made per worker (with its LoopLink, comfy/backend.py), so backends added and removed at run
time (a reload) share the same threads. They start with the first backend and stop when the last one has stopped.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool

from pixflow.comfy.opener import SocketOpener
from pixflow.errors import SpriteError
from pixflow.sprites import Result

log = logging.getLogger(__name__)

CONTROL_THREADS = 4  # a control command to a backend that does not answer holds one for up to http_timeout
WRITER_THREADS = 2  # a slow disk is slow for everyone: more writers would only queue in the kernel
# Each writer waits on one at a time, and a CPU is left to the loop. On the bench's 2 CPUs (which also run the stand-in
# ComfyUI drawing 512x512 PNGs) one process did 46-47 sprites/s and two 42-49: the CPUs, not the processes, bound it.
STEP_PROCESSES = max(1, min(WRITER_THREADS, (os.cpu_count() or 2) - 1))
STEPS_TIMEOUT = 120.0  # seconds for one image's steps (a 4096x4096 one takes about 2 s)

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


class StepProcesses:
    """The processes the sprite steps run in, spawned on first use (a fork would copy the worker's threads and
    sockets); one that dies is replaced and the image's steps fail with `steps_crashed`."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def run(self, steps: Callable[[bytes], Result], data: bytes) -> Result:
        """On a file writer: `steps(data)` in a step process (both must pickle: module-level functions, values)."""
        pool = self._started()
        try:
            return pool.submit(steps, data).result(STEPS_TIMEOUT)
        except BrokenProcessPool as e:
            self._drop(pool)
            raise SpriteError("steps_crashed", f"the process running the sprite steps died: {e}") from e
        except FuturesTimeout as e:
            raise SpriteError("steps_timeout", f"the sprite steps took more than {STEPS_TIMEOUT:g}s") from e

    def stop(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _started(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(self._size, mp_context=context, initializer=_load_steps)
            return self._pool

    def _drop(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)


STEPS_NICENESS = 10  # the steps are batch work: where CPUs are short, the kernel runs the loop first


def _load_steps() -> None:
    """In a new step process: lower its priority, and pay for the steps' imports (numpy, Pillow) before its first
    image, not during it."""
    os.nice(STEPS_NICENESS)
    import pixflow.sprites  # noqa: F401


class BackendThreads:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._opener: SocketOpener | None = None
        self._control: TaskPool | None = None
        self._writers: TaskPool | None = None
        self._steps = StepProcesses(STEP_PROCESSES)

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
        self._steps.stop()

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

    def run_steps(self, steps: Callable[[bytes], Result], data: bytes) -> Result:
        """On a file writer: an image's sprite steps, in a step process."""
        return self._steps.run(steps, data)
