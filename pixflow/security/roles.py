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


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the key's name (None without CURVE) and its role."""

    name: str | None
    role: Role

    def check(self, request_type: str, needed: Role) -> None:
        """The least role of each request is in the request table (pixflow/serving/requests.py)."""
        if self.role < needed:
            raise RequestError(
                ErrorCode.FORBIDDEN,
                f"{request_type!r} needs the role {needed.label}; key {self.name!r} is {self.role.label}",
            )

    def check_owner(self, request_type: str, job_id: str, owner: str | None) -> None:
        """A submitter acts on its own jobs only; an admin on any."""
        if self.role < Role.ADMIN and owner != self.name:
            raise RequestError(
                ErrorCode.FORBIDDEN, f"{request_type!r} of job {job_id!r}: it belongs to another key (needs admin)"
            )


LOCAL_ADMIN = Caller(None, Role.ADMIN)  # without CURVE (loopback only) everyone is admin, as before
