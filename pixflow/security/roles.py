"""Roles: what a client key may ask for. The worker decides per request, from the key's name (ZAP user id)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from pixflow.errors import ErrorCode, RequestError


class Role(IntEnum):
    """Ordered: each role may do everything the ones below it may."""

    VIEWER = 1  # status, lists, groups, events
    SUBMITTER = 2  # also generate, cancel and fetch the images of its own jobs
    ADMIN = 3  # everything, on any job: pause, resume, backend control

    @classmethod
    def parse(cls, text: object) -> Role:
        if isinstance(text, str) and text.upper() in cls.__members__:
            return cls[text.upper()]
        raise ValueError(f"unknown role {text!r}; roles: {', '.join(ROLE_NAMES)}")

    @property
    def label(self) -> str:
        return self.name.lower()


ROLE_NAMES = tuple(role.label for role in Role)

# The least role each request needs. A request type missing here needs admin: a new request is closed until
# someone decides who may send it.
REQUIRED: dict[str, Role] = {
    "ping": Role.VIEWER,
    "status": Role.VIEWER,
    "list_jobs": Role.VIEWER,
    "list_models": Role.VIEWER,
    "list_workflows": Role.VIEWER,
    "group": Role.VIEWER,  # reading a group is reading its jobs' snapshots, which `status` shows any viewer
    "generate": Role.SUBMITTER,
    "compare": Role.SUBMITTER,
    "cancel": Role.SUBMITTER,  # its own jobs; any job for an admin (checked by the handler)
    "fetch_output": Role.SUBMITTER,  # likewise
    "fetch_preview": Role.SUBMITTER,
    "pause": Role.ADMIN,
    "resume": Role.ADMIN,
}


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the key's name (None without CURVE) and its role."""

    name: str | None
    role: Role

    def may(self, request_type: str) -> bool:
        return self.role >= REQUIRED.get(request_type, Role.ADMIN)

    def check(self, request_type: str) -> None:
        if not self.may(request_type):
            needed = REQUIRED.get(request_type, Role.ADMIN).label
            raise RequestError(
                ErrorCode.FORBIDDEN, f"{request_type!r} needs the role {needed}; key {self.name!r} is {self.role.label}"
            )

    def check_owner(self, request_type: str, job_id: str, owner: str | None) -> None:
        """A submitter acts on its own jobs only; an admin on any."""
        if self.role < Role.ADMIN and owner != self.name:
            raise RequestError(
                ErrorCode.FORBIDDEN, f"{request_type!r} of job {job_id!r}: it belongs to another key (needs admin)"
            )


LOCAL_ADMIN = Caller(None, Role.ADMIN)  # without CURVE (loopback only) everyone is admin, as before
