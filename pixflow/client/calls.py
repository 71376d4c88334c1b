"""The requests a program sends most, as methods (`Client` inherits them): each names its fields and, for those that
make jobs, chooses their ids before the first attempt so that a retry after a timeout is safe (docs/protocol.md,
"Job ids and timeouts"). The transport they go through is `call`, which connection.py's Client gives.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pixflow.errors import PixflowError

Sent = TypeVar("Sent")


class ClientError(PixflowError):
    """The worker answered `error`, or did not answer in time (code `timeout`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Accepted:
    """The worker's answer to `generate`: `existing` when it already had a job with this id (a retry)."""

    job_id: str
    existing: bool
    state: str
    attempts: int = 1  # sends it took; `existing` after a retry is this request's own first arrival


def new_job_id() -> str:
    return uuid.uuid4().hex


class Calls:
    """Request methods over `call` (a request's type and fields -> its reply, ClientError on `error`)."""

    def call(self, kind: str, timeout: float | None = None, **fields: Any) -> dict[str, Any]:
        raise NotImplementedError

    def ping(self) -> dict[str, Any]:
        return self.call("ping")

    def submit(self, prompt: str, *, id: str | None = None, retries: int = 0, **params: Any) -> Accepted:
        """`generate` under `id` (a new uuid when None), sent again up to `retries` times after a timeout.

        Retrying is safe because the id is the same: the worker answers `existing: true` for a job it already
        has (the first attempt arrived, only its answer was late) and never makes a second one."""
        job_id = id or new_job_id()

        def send(attempt: int) -> Accepted:
            reply = self.call("generate", id=job_id, prompt=prompt, **params)
            return Accepted(str(reply["job_id"]), bool(reply.get("existing")), str(reply.get("state")), attempt + 1)

        return self._retrying(retries, send)

    def generate(self, prompt: str, *, id: str | None = None, retries: int = 0, **params: Any) -> str:
        """`submit` and return the job's id."""
        return self.submit(prompt, id=id, retries=retries, **params).job_id

    def compare(self, prompt: str, *, group_id: str | None = None, retries: int = 0, **params: Any) -> dict[str, Any]:
        """`compare` (`models` and/or `seeds` in params) under `group_id`, sent again up to `retries` times after a
        timeout; the `group` reply. Safe to retry like `submit`: a known group id answers that group."""
        group_id = group_id or new_job_id()
        return self._retrying(retries, lambda _: self.call("compare", group_id=group_id, prompt=prompt, **params))

    def sheet(self, prompt: str, *, group_id: str | None = None, retries: int = 0, **params: Any) -> dict[str, Any]:
        """`sheet` (`rows`, `frames`, `cell`, `palette` in params) under `group_id`: a character's sprite sheet, one
        job per cell; the `group` reply. Safe to retry like `compare`."""
        group_id = group_id or new_job_id()
        return self._retrying(retries, lambda _: self.call("sheet", group_id=group_id, prompt=prompt, **params))

    def _retrying(self, retries: int, send: Callable[[int], Sent]) -> Sent:
        """`send(attempt)` again after a timeout, up to `retries` times (the caller's id makes it safe)."""
        for attempt in range(retries + 1):
            try:
                return send(attempt)
            except ClientError as e:
                if e.code != "timeout" or attempt == retries:
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    def status(self, job_id: str | None = None, timeout: float | None = None) -> dict[str, Any]:
        return self.call("status", timeout, **({"job_id": job_id} if job_id else {}))

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.call("cancel", job_id=job_id)

    def fetch_output(self, job_id: str, index: int = 0, **fields: Any) -> dict[str, Any]:
        """One image of a job as bytes (`image`), with format, width, height, sha256 (max_side: a thumbnail)."""
        return self.call("fetch_output", job_id=job_id, index=index, **fields)

    def fetch_sheet_file(self, group_id: str, variant: str = "sheet", **fields: Any) -> dict[str, Any]:
        """One of a sheet's files as bytes (`image`): `sheet`, `atlas`, `aseprite`, or `preview` with `row=`."""
        return self.call("fetch_output", group_id=group_id, variant=variant, **fields)

    def retry(self, job_id: str, *, id: str | None = None, **fields: Any) -> dict[str, Any]:
        """`retry`: an ended job's request as a new job (`new_seed=True` re-rolls it) under `id`, chosen here when
        None so that a retry after a timeout is the same new job; the `accepted` reply."""
        return self.call("retry", job_id=job_id, id=id or new_job_id(), **fields)
