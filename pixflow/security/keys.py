"""CURVE key files: making keypairs, reading them, and the folder of allowed client keys with their roles.

Files are zmq.auth certificates: NAME.key holds the public key, NAME.key_secret the public and the secret key
(mode 0600). The worker's folder of allowed clients (`curve_clients_dir`) holds one NAME.key per client; NAME is
the key's name (the owner of its jobs), and `roles.yaml` there maps names to roles (a name it does not list is
a viewer).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml
import zmq
import zmq.auth

from pixflow.errors import ConfigError
from pixflow.security.roles import ROLE_NAMES, Role, parse_role_entry

ROLES_FILE = "roles.yaml"
KEY_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
Z85_KEY_LENGTH = 40


def check_key_name(name: str) -> str:
    if not name or len(name) > 64 or not set(name) <= KEY_NAME_CHARS or name.startswith("."):
        raise ConfigError(f"key name {name!r}: use 1-64 letters, digits, _ . - (not starting with .)")
    return name


def new_keypair(name: str, directory: Path, role: str | None = None) -> tuple[Path, Path]:
    """Write NAME.key and NAME.key_secret (0600) in `directory`; with a role, record it in its roles.yaml."""
    check_key_name(name)
    if role is not None and role not in ROLE_NAMES:
        raise ConfigError(f"unknown role {role!r}; roles: {', '.join(ROLE_NAMES)}")
    directory.mkdir(parents=True, exist_ok=True)
    public, secret = directory / f"{name}.key", directory / f"{name}.key_secret"
    if public.exists() or secret.exists():
        raise ConfigError(f"{public} or {secret} exists already; remove it first or choose another name")
    # The secret file must never be readable by others, not even for a moment: create it private.
    old_umask = os.umask(0o077)
    try:
        zmq.auth.create_certificates(str(directory), name, metadata={"role": role} if role else None)
    finally:
        os.umask(old_umask)
    secret.chmod(0o600)
    public.chmod(0o644)
    if role is not None:
        set_role(directory, name, role)
    return public, secret


def set_role(directory: Path, name: str, role: str) -> None:
    path = directory / ROLES_FILE
    roles = _read_roles(path) if path.exists() else {}
    roles[name] = role
    path.write_text(
        "# key name -> role (viewer, submitter, proxy, proxy:admin, admin); a key not listed here is a viewer\n"
        + yaml.safe_dump(roles, sort_keys=True)
    )


def read_public_key(source: str | Path) -> bytes:
    """A z85 public key: from a key file (NAME.key or NAME.key_secret), or given as the 40 z85 characters."""
    text = str(source)
    if len(text) == Z85_KEY_LENGTH and not Path(text).exists():
        return text.encode("ascii")
    try:
        public, _ = zmq.auth.load_certificate(text)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read a public key from {text}: {e}") from e
    return public


def read_keypair(path: str | Path) -> tuple[bytes, bytes]:
    """The z85 (public, secret) keys of a NAME.key_secret file."""
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the keypair {path}: {e}") from e
    if secret is None:
        raise ConfigError(f"{path} holds no secret key: give the NAME.key_secret file made by `pixflow keys new`")
    return public, secret


@dataclass(frozen=True)
class KeyRing:
    """The allowed client keys at one moment: z85 public key -> name, name -> role. Immutable: a reload builds
    a new one and swaps the reference (the ZAP thread reads it, the loop replaces it)."""

    names: dict[bytes, str] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    grants: dict[str, Role] = field(default_factory=dict)  # proxy keys: the most each may grant (on_behalf)
    problems: tuple[str, ...] = ()  # files that were skipped, and why (logged at each reload)

    def role_of(self, name: str) -> Role | None:
        return self.roles.get(name)

    def grant_of(self, name: str) -> Role | None:
        return self.grants.get(name)


def _read_roles(path: Path) -> dict[str, str]:
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    if not isinstance(document, dict) or not all(isinstance(k, str) for k in document):
        raise ConfigError(f"{path} must map key names to roles ({', '.join(ROLE_NAMES)})")
    return {str(k): str(v) for k, v in document.items()}


def load_keyring(directory: Path) -> KeyRing:
    """Read the folder. A bad roles.yaml fails the load (the caller keeps the previous ring); a bad key file is
    skipped with a problem noted."""
    if not directory.is_dir():
        raise ConfigError(f"curve_clients_dir {directory} is not a folder")
    role_names = _read_roles(directory / ROLES_FILE) if (directory / ROLES_FILE).exists() else {}
    names: dict[bytes, str] = {}
    roles: dict[str, Role] = {}
    grants: dict[str, Role] = {}
    problems: list[str] = []
    for path in sorted(directory.glob("*.key")):
        name = path.stem
        try:
            check_key_name(name)
            public = read_public_key(path)
            role, grant = parse_role_entry(role_names.get(name, "viewer"))
        except (ConfigError, ValueError) as e:
            problems.append(f"{path.name}: {e}")
            continue
        if public in names:
            problems.append(f"{path.name}: the same key as {names[public]}.key; skipped")
            continue
        names[public], roles[name] = name, role
        if grant is not None:
            grants[name] = grant
    problems += [f"{p.name}: a secret key does not belong here; move it away" for p in directory.glob("*.key_secret")]
    problems += [f"roles.yaml names {n!r}, which has no {n}.key" for n in sorted(set(role_names) - set(roles))]
    return KeyRing(names, roles, grants, tuple(problems))


def folder_signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """What changes when a key or roles.yaml is added, removed or edited (names, sizes, mtimes)."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return ()
    signature = []
    for entry in entries:
        try:
            stat = entry.stat()
        except OSError:
            continue
        signature.append((entry.name, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(signature))
