"""Safe by default: a socket reachable from other machines needs CURVE, or an explicit `insecure`."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

import zmq

from pixflow.errors import ConfigError
from pixflow.security.keys import load_keyring, read_keypair

log = logging.getLogger(__name__)

LOCAL_HOSTS = frozenset({"localhost", "::1", "[::1]"})


def is_local(address: str) -> bool:
    """True for addresses no other machine can reach: loopback TCP, ipc (file permissions) and inproc."""
    scheme, _, rest = address.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp":
        return False  # pgm, epgm, udp, ws...: multicast or unknown, treated as exposed
    host = urlsplit(f"//{rest}").hostname if not rest.startswith("[") else rest[: rest.rfind("]") + 1]
    host = (host or "").lower()
    # 127.0.0.0/8 is loopback; anything else (0.0.0.0, *, an interface name, a host name) may be reachable.
    return host in LOCAL_HOSTS or (host.startswith("127.") and host.replace(".", "").isdigit())


SETUP_HINT = (
    "Set up CURVE keys (docs/security.md):\n"
    "  pixflow keys new worker --dir /etc/pixflow            # the worker's keypair\n"
    "  pixflow keys new alice --dir /etc/pixflow/clients --role submitter   # one per client\n"
    "then set curve_secret_key: /etc/pixflow/worker.key_secret and curve_clients_dir: /etc/pixflow/clients,\n"
    "hand alice.key_secret and worker.key to the client (and delete alice.key_secret from the worker's folder).\n"
    "Or bind to 127.0.0.1 only, or pass --insecure (setting insecure: true) to expose the worker without keys."
)


def check_exposure(addresses: dict[str, str], curve: bool, insecure: bool) -> None:
    """Refuse to start with a socket open to the network and no keys, unless told `insecure`."""
    exposed = {name: address for name, address in addresses.items() if not is_local(address)}
    if not exposed or curve:
        return
    listing = ", ".join(f"{name} {address}" for name, address in exposed.items())
    if not insecure:
        raise ConfigError(
            f"refusing to bind {listing} without CURVE keys: anyone who can reach it could use it.\n" + SETUP_HINT
        )
    log.warning(
        "INSECURE: %s open to the network without CURVE keys (insecure: true): anyone who can reach it can submit, "
        "cancel and pause; see docs/security.md",
        listing,
    )


def startup_problems(
    req_addr: str, pub_addr: str, curve_secret_key: Path | None, curve_clients_dir: Path | None, insecure: bool
) -> list[ConfigError]:
    """What stops a worker with these settings before it binds a socket (pixflow.security.guard.Security), all of
    it: `pixflow config check` reports the same refusals `serve` would, without starting anything."""
    problems = []
    curve = curve_secret_key is not None or curve_clients_dir is not None
    if curve and (curve_secret_key is None or curve_clients_dir is None):
        problems.append(ConfigError("CURVE needs both curve_secret_key and curve_clients_dir (docs/security.md)"))
    elif curve:
        assert curve_secret_key is not None and curve_clients_dir is not None
        if not zmq.has("curve"):
            problems.append(ConfigError("this libzmq was built without CURVE support; install pyzmq's wheel"))
        for check in (lambda: read_keypair(curve_secret_key), lambda: load_keyring(curve_clients_dir)):
            try:
                check()
            except ConfigError as e:
                problems.append(e)
    try:
        check_exposure({"requests": req_addr, "events": pub_addr}, curve, insecure)
    except ConfigError as e:
        problems.append(e)
    return problems
