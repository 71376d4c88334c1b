"""CURVE on the worker's two sockets, with a ZAP handler that knows the allowed client keys and their roles.

Threads: the ZAP handler runs on the authenticator's thread (zmq.auth.thread) and only reads the current KeyRing
(an immutable object whose reference the loop swaps on reload) and bumps the rejection counter under a lock.
Everything else runs on the worker's loop.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from pixflow.errors import ConfigError
from pixflow.security.exposure import check_exposure
from pixflow.security.keys import KeyRing, folder_signature, load_keyring, read_keypair
from pixflow.security.roles import LOCAL_ADMIN, Caller
from pixflow.settings import Settings

log = logging.getLogger(__name__)

ZAP_DOMAIN = "pixflow"
REJECT_LOG_INTERVAL = 60.0  # seconds between two log lines about the same unknown key (it may retry 10 times a s)
REVOKED = "\x00revoked"  # the user id of a key that was allowed a moment ago but is no longer (a reload raced)


class _Authenticator(ThreadAuthenticator):
    """zmq's ZAP handler, telling pixflow which address a key came from and naming users by their key's name."""

    def __init__(self, context: zmq.Context[Any], guard: CurveGuard) -> None:
        super().__init__(context, log=logging.getLogger("pixflow.security.zap"))
        self._guard = guard

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        if len(msg) > 3:
            self._guard.peer_address = msg[3].decode("utf-8", "replace")
        await super().handle_zap_message(msg)

    def curve_user_id(self, client_public_key: bytes) -> str:
        return self._guard.ring.names.get(z85.encode(client_public_key), REVOKED)


class CurveGuard:
    def __init__(self, settings: Settings, context: zmq.Context[Any]) -> None:
        assert settings.curve_secret_key is not None and settings.curve_clients_dir is not None
        self.public_key, self._secret_key = read_keypair(settings.curve_secret_key)
        self.clients_dir: Path = settings.curve_clients_dir
        self.ring: KeyRing = load_keyring(self.clients_dir)  # a broken folder at start is a ConfigError
        self._signature = folder_signature(self.clients_dir)
        self._report(self.ring)
        self.peer_address = ""  # set by the ZAP thread just before it asks `callback`
        self._lock = threading.Lock()
        self.rejected = 0
        self._last_logged: dict[bytes, float] = {}
        self._reload_asked = False
        self._bound: list[tuple[zmq.Socket[bytes], str]] = []
        self._unbound: list[tuple[zmq.Socket[bytes], str]] = []  # cut by a revocation, not yet bound again
        self._authenticator = _Authenticator(context, self)
        self._authenticator.start()
        self._authenticator.configure_curve_callback(ZAP_DOMAIN, self)

    # Called by the ZAP thread for every handshake.
    def callback(self, domain: str, z85_key: bytes) -> bool:
        if z85_key in self.ring.names:
            return True
        now = time.monotonic()
        with self._lock:
            self.rejected += 1
            count = self.rejected
            quiet = now - self._last_logged.get(z85_key, -REJECT_LOG_INTERVAL) < REJECT_LOG_INTERVAL
            if not quiet:
                if len(self._last_logged) > 10_000:  # many random keys: forget, rather than grow without end
                    self._last_logged.clear()
                self._last_logged[z85_key] = now
        if not quiet:
            log.warning(
                "rejected a client with an unknown key %s from %s (%d rejections so far; this key is logged at most "
                "once a minute)",
                z85_key.decode("ascii", "replace"),
                self.peer_address or "?",
                count,
            )
        return False

    # On the loop.
    def secure(self, socket: zmq.Socket[bytes]) -> None:
        socket.curve_server = True
        socket.curve_secretkey = self._secret_key
        socket.curve_publickey = self.public_key
        socket.zap_domain = ZAP_DOMAIN.encode()

    def watch(self, socket: zmq.Socket[bytes], endpoint: str) -> None:
        """A bound socket whose connections are cut (unbind, bind again) when a key is revoked."""
        self._bound.append((socket, endpoint))

    def caller(self, frame: zmq.Frame) -> Caller | None:
        """The sender of a request, or None for a key revoked since its connection was made (the request is
        dropped: nothing is answered to a key that is no longer allowed)."""
        name = frame.get("User-Id")
        if not isinstance(name, str):
            return None
        role = self.ring.role_of(name)
        return Caller(name, role, self.ring.grant_of(name)) if role is not None else None

    def ask_reload(self) -> None:
        """From a signal handler (SIGHUP): only sets a flag; the reload timer does the work."""
        self._reload_asked = True

    def reload_if_changed(self) -> None:
        if self._unbound:
            self._bind_again()
        signature = folder_signature(self.clients_dir)
        if signature == self._signature and not self._reload_asked:
            return
        self._reload_asked = False
        self._signature = signature
        try:
            ring = load_keyring(self.clients_dir)
        except ConfigError as e:
            log.error("client keys not reloaded, the previous ones stay in force: %s", e)
            return
        old, self.ring = self.ring, ring
        self._report(ring)
        revoked = {name for key, name in old.names.items() if ring.names.get(key) != name}
        if revoked:
            # CURVE checks a key once, at the handshake: connections made with a revoked key stay open until cut.
            # Rebinding cuts every connection; the allowed clients reconnect (and authenticate) on their own.
            log.warning("keys revoked: %s; reconnecting every client", ", ".join(sorted(revoked)))
            for socket, endpoint in self._bound:
                socket.unbind(endpoint)
            self._unbound = list(self._bound)
        self._bind_again()

    def _bind_again(self) -> None:
        """Bind what a revocation unbound; a port taken meanwhile is tried again at the next check (every second)."""
        waiting, self._unbound = self._unbound, []
        for socket, endpoint in waiting:
            try:
                socket.bind(endpoint)
            except zmq.ZMQError as e:
                log.error("cannot bind %s again after a revocation (%s); trying again in a second", endpoint, e)
                self._unbound.append((socket, endpoint))

    @staticmethod
    def _report(ring: KeyRing) -> None:
        log.info("CURVE on: %d client keys (%s)", len(ring.roles), _roles_line(ring))
        for problem in ring.problems:
            log.warning("client keys: %s", problem)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            rejected = self.rejected
        return {"curve": True, "clients": len(self.ring.roles), "rejected": rejected}

    def stop(self) -> None:
        self._authenticator.stop()


def _roles_line(ring: KeyRing) -> str:
    return ", ".join(f"{name}: {role.label}" for name, role in sorted(ring.roles.items())) or "none"


class Security:
    """The worker's side of it: CURVE and roles when keys are set, else everyone is a local admin (loopback only,
    or `insecure`). Owns the zmq context when CURVE is on: one ZAP handler per context."""

    def __init__(self, settings: Settings, context: zmq.Context[Any] | None = None) -> None:
        curve = settings.curve_secret_key is not None or settings.curve_clients_dir is not None
        if curve and (settings.curve_secret_key is None or settings.curve_clients_dir is None):
            raise ConfigError("CURVE needs both curve_secret_key and curve_clients_dir (docs/security.md)")
        if curve and not zmq.has("curve"):
            raise ConfigError("this libzmq was built without CURVE support; install pyzmq's wheel (bundles libsodium)")
        check_exposure({"requests": settings.req_addr, "events": settings.pub_addr}, curve, settings.insecure)
        self._owns_context = curve and context is None
        self.context: zmq.Context[Any] = context or (zmq.Context() if curve else zmq.Context.instance())
        self.guard = CurveGuard(settings, self.context) if curve else None

    def secure(self, socket: zmq.Socket[bytes]) -> None:
        if self.guard is not None:
            self.guard.secure(socket)

    def watch(self, socket: zmq.Socket[bytes]) -> None:
        if self.guard is not None:
            self.guard.watch(socket, socket.getsockopt_string(zmq.LAST_ENDPOINT))

    def caller(self, frame: zmq.Frame) -> Caller | None:
        return LOCAL_ADMIN if self.guard is None else self.guard.caller(frame)

    def reload_if_changed(self) -> None:
        if self.guard is not None:
            self.guard.reload_if_changed()

    def ask_reload(self) -> None:
        if self.guard is not None:
            self.guard.ask_reload()

    def describe(self) -> dict[str, Any]:
        return {"curve": False} if self.guard is None else self.guard.describe()

    def close(self) -> None:
        """After the sockets are closed."""
        if self.guard is not None:
            self.guard.stop()
        if self._owns_context:
            self.context.term()
