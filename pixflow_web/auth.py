"""Who may call the web API: bearer tokens, each with a name and one of the protocol's roles.

The tokens file (YAML, or JSON, which is YAML too) maps a name to its token and role:

    alice: {token_sha256: 9f86d0…, role: submitter}   # the SHA-256 of the token, hex: the file holds no secret
    ci: {token: s3cret-ci-token, role: viewer}        # or the token itself

`Authorization: Bearer TOKEN` on every call (or `?access_token=` for a browser's EventSource, which cannot set
headers). No token or an unknown one: 401; a role below the route's: 403. Without a tokens file every caller is
admin, as on the worker without CURVE, and so the server refuses to listen on anything but loopback.

Each request for a token goes to the worker with `on_behalf: {name, role}` (app.py): the worker, which knows the web
server's key as a `proxy`, serves it as that user, its own owner and quota (docs/web.md; docs/security.md, "Proxies").
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pixflow.errors import ConfigError
from pixflow_web.routes import ADMIN, ROLES

HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MIN_TOKEN_LENGTH = 16
LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


@dataclass(frozen=True)
class User:
    name: str
    role: str


NOBODY_CHECKED = User("local", ADMIN)  # no tokens file: loopback only, everyone admin


class AuthError(ConfigError):
    code = "invalid_tokens"


class InsecureListenError(ConfigError):
    code = "insecure_listen"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Tokens:
    by_digest: dict[str, User]

    def user(self, token: str | None) -> User | None:
        """The user a presented token belongs to, or None."""
        return None if not token else self.by_digest.get(digest(token))


def parse_tokens(data: Any, where: str = "the tokens file") -> Tokens:
    if not isinstance(data, dict) or not data:
        raise AuthError(
            f"{where} must map names to {{token or token_sha256, role}}, e.g. alice: {{token: ..., role: viewer}}"
        )
    found: dict[str, User] = {}
    for name, entry in data.items():
        if not isinstance(name, str) or not NAME.match(name):
            raise AuthError(f"{where}: {name!r} is no name (letters, digits, _ . -, at most 64)")
        if not isinstance(entry, dict) or entry.get("role") not in ROLES:
            raise AuthError(f"{where}: {name} needs a role, one of {', '.join(ROLES)}")
        token, hashed = entry.get("token"), entry.get("token_sha256")
        if (token is None) == (hashed is None):
            raise AuthError(f"{where}: {name} needs 'token' or 'token_sha256' (one of them)")
        if token is not None and (not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH):
            raise AuthError(f"{where}: {name}'s token must be a string of at least {MIN_TOKEN_LENGTH} characters")
        if hashed is not None and (not isinstance(hashed, str) or not HEX_SHA256.match(hashed.lower())):
            raise AuthError(f"{where}: {name}'s token_sha256 must be 64 hex digits")
        key = digest(token) if isinstance(token, str) else str(hashed).lower()
        if key in found:
            raise AuthError(f"{where}: {name} has the same token as {found[key].name}")
        found[key] = User(name, entry["role"])
    return Tokens(found)


def load_tokens(path: Path) -> Tokens:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise AuthError(f"cannot read the tokens file {path}: {e}") from e
    return parse_tokens(data, str(path))


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost, or a wildcard ("", "0.0.0.0" parses and is not loopback)


def check_listen(host: str, tokens: Tokens | None) -> None:
    """Refuse a non-loopback address without tokens: everyone reaching it would be admin."""
    if tokens is None and not is_loopback(host):
        raise InsecureListenError(
            f"refusing to listen on {host or '*'} without tokens: anyone who reaches it could do everything. "
            "Give --tokens FILE (name: {token_sha256, role}; docs/web.md), or listen on 127.0.0.1"
        )
