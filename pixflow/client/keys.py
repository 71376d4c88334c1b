"""A client's CURVE keys (docs/security.md): the worker's public key and the client's own keypair.

From the Client's options or, when those are not given, from PIXFLOW_SERVER_KEY (the worker's NAME.key, or its
40 z85 characters) and PIXFLOW_CLIENT_KEY (this client's NAME.key_secret). With neither, the client speaks plain
ZeroMQ, as a worker without CURVE expects.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import zmq

from pixflow.errors import ConfigError
from pixflow.security.keys import read_keypair, read_public_key

ENV_SERVER_KEY = "PIXFLOW_SERVER_KEY"
ENV_CLIENT_KEY = "PIXFLOW_CLIENT_KEY"


@dataclass(frozen=True)
class ClientKeys:
    server_public: bytes
    public: bytes
    secret: bytes

    def apply(self, socket: zmq.Socket[bytes]) -> None:
        """Before connect: the socket then only talks to the worker holding the server key's secret."""
        socket.curve_serverkey = self.server_public
        socket.curve_publickey = self.public
        socket.curve_secretkey = self.secret


def client_keys(
    server_key: str | Path | None = None, client_key: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> ClientKeys | None:
    env = os.environ if environ is None else environ
    server = server_key or env.get(ENV_SERVER_KEY) or None
    client = client_key or env.get(ENV_CLIENT_KEY) or None
    if server is None and client is None:
        return None
    if server is None or client is None:
        raise ConfigError(
            f"CURVE needs both the worker's public key ({ENV_SERVER_KEY}, --server-key) and this client's keypair "
            f"({ENV_CLIENT_KEY}, --client-key); got only the {'client' if server is None else 'server'} one"
        )
    if not zmq.has("curve"):
        raise ConfigError("this libzmq was built without CURVE support")
    public, secret = read_keypair(client)
    return ClientKeys(read_public_key(server), public, secret)


def apply_keys(keys: ClientKeys | None, socket: zmq.Socket[bytes]) -> zmq.Socket[bytes]:
    if keys is not None:
        keys.apply(socket)
    return socket
