"""Roles: what a client key may ask for. The worker decides per request, from the key's name (ZAP user id)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from pixflow.errors import ErrorCode, RequestError


class Role(IntEnum):
    """Ordered: each role may do everything the ones below it may."""

    VIEWER = 1  # status, lists, groups, events
    SUBMITTER = 2  # also generate, cancel and fetch the images of its own jobs
    PROXY = 3  # a submitter that may also speak for its users (`on_behalf`): the web server's key
    ADMIN = 4  # everything, on any job: pause, resume, backend control

    @classmethod
    def parse(cls, text: object) -> Role:
        if isinstance(text, str) and text.upper() in cls.__members__:
            return cls[text.upper()]
        raise ValueError(f"unknown role {text!r}; roles: {', '.join(ROLE_NAMES)}")

    @property
    def label(self) -> str:
        return self.name.lower()


ROLE_NAMES = tuple(role.label for role in Role)
USER_ROLES = (Role.VIEWER, Role.SUBMITTER, Role.ADMIN)  # what `on_behalf.role` may say: a proxy speaks for no proxy
DEFAULT_GRANT = Role.SUBMITTER  # the most a proxy key may grant; roles.yaml `web: proxy:admin` raises it to admin
USER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # as the web server's token names


def parse_role_entry(text: object) -> tuple[Role, Role | None]:
    """A roles.yaml value -> (the key's role, the most it may grant on behalf of others: proxies only).
    `proxy` grants up to submitter, `proxy:admin` (or `proxy:viewer`) up to the role named."""
    if isinstance(text, str) and text.lower().startswith("proxy:"):
        grant = Role.parse(text.split(":", 1)[1])
        if grant not in USER_ROLES:
            raise ValueError(f"{text!r}: a proxy grants viewer, submitter or admin")
        return Role.PROXY, grant
    role = Role.parse(text)
    return role, (DEFAULT_GRANT if role == Role.PROXY else None)


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the key's name (None without CURVE) and its role."""

    name: str | None
    role: Role
    grants: Role | None = None  # a proxy key's: the most it may grant on behalf of a user (None: not a proxy)

    def on_behalf(self, value: Any) -> Caller:
        """The request's `on_behalf` ({name, role}) -> the caller it is served as (docs/security.md, "Proxies").
        From a proxy key: the user, with the role it says up to the proxy's grant, owner `<key>:<name>`. Without
        CURVE (name None, everyone admin): the user as it says, owner `<name>`. From any other key: forbidden."""
        if self.name is not None and self.role != Role.PROXY:
            raise RequestError(
                ErrorCode.FORBIDDEN,
                f"'on_behalf' is for proxy keys only; key {self.name!r} is {self.role.label}: send without it",
            )
        if not isinstance(value, dict) or set(value) != {"name", "role"}:
            raise RequestError(ErrorCode.BAD_REQUEST, "'on_behalf' must be a map of exactly 'name' and 'role'")
        name, role_text = value["name"], value["role"]
        if not isinstance(name, str) or not USER_NAME.match(name):
            raise RequestError(ErrorCode.BAD_REQUEST, "'on_behalf.name' must be 1-64 letters, digits, _ . -")
        try:
            role = Role.parse(role_text)
        except ValueError:
            role = None
        if role not in USER_ROLES:
            labels = ", ".join(r.label for r in USER_ROLES)
            raise RequestError(ErrorCode.BAD_REQUEST, f"'on_behalf.role' must be one of {labels}, got {role_text!r}")
        assert role is not None
        if self.name is None:  # without CURVE: no key names, every client may everything
            return replace(self, name=name, role=role, grants=None)
        grants = self.grants if self.grants is not None else DEFAULT_GRANT
        if role > grants:
            raise RequestError(
                ErrorCode.FORBIDDEN,
                f"proxy key {self.name!r} may speak for users up to the role {grants.label}, not {role.label}",
            )
        return Caller(f"{self.name}:{name}", role)

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
