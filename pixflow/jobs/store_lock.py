"""One worker per store: an exclusive flock on `<db_path>.lock`, held for the worker's whole life.

Two workers on one SQLite store would both dispatch its queued jobs and send each prompt twice. SQLite's own
locking only serialises writes, so the worker takes an advisory lock of its own. flock belongs to the open
file: the kernel releases it when the process ends in any way, `kill -9` included, so a crashed worker never
leaves a stale lock behind (the pid written in the file is only there to name the holder in the message).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from pixflow.errors import StoreLockedError


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


class StoreLock:
    """Held from `acquire` until `release` (or the process's end)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.path = lock_path(db_path)
        self._fd: int | None = None

    def acquire(self) -> StoreLock:
        if str(self.db_path) == ":memory:":
            return self  # a store in memory (the demo) is nobody else's
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_CLOEXEC: a child process (ComfyUI started by a tool, a demo's dashboard) must not inherit the lock.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLockedError(
                f"the job store {self.db_path} is in use by another pixflow worker (pid {holder}; lock file "
                f"{self.path}): one worker per store; stop that one or give this one another db_path"
            ) from None
        # Written only once the lock is ours, so a refused start never overwrites the holder's pid.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # the file stays (removing it would race with a starting worker)
        os.close(fd)  # closing the last descriptor of the open file drops the flock

    @property
    def held(self) -> bool:
        return self._fd is not None
