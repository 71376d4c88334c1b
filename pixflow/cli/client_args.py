"""Where a client command finds the worker: --req-addr/--pub-addr, else $PIXFLOW_REQ_ADDR/$PIXFLOW_PUB_ADDR, else
the built-in loopback defaults; the same for the CURVE key files (pixflow/cli/keys.py).

The variables are the ones `pixflow serve` reads for the addresses it binds (pixflow/config.py), on purpose: one
`export PIXFLOW_REQ_ADDR=tcp://127.0.0.1:6000` moves the worker and every client command of that shell together.
A bind-everywhere host (`*`, `0.0.0.0`, `[::]`) cannot be connected to as such, so a client reads it as this
machine's loopback.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from pixflow.cli import keys
from pixflow.client import Client
from pixflow.protocol import DEFAULT_PUB_ADDR, DEFAULT_REQ_ADDR

ENV_REQ_ADDR = "PIXFLOW_REQ_ADDR"
ENV_PUB_ADDR = "PIXFLOW_PUB_ADDR"
WILDCARD_HOSTS = {"*": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}


def connectable(address: str) -> str:
    """A bound address as a client connects to it: a wildcard host becomes loopback."""
    scheme, sep, rest = address.partition("://")
    host, colon, port = rest.rpartition(":")
    if scheme == "tcp" and sep and colon and host in WILDCARD_HOSTS:
        return f"tcp://{WILDCARD_HOSTS[host]}:{port}"
    return address


def client_addresses(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The request and event addresses a client command uses when no flag is given."""
    env = os.environ if environ is None else environ
    req = env.get(ENV_REQ_ADDR, "").strip() or DEFAULT_REQ_ADDR
    pub = env.get(ENV_PUB_ADDR, "").strip() or DEFAULT_PUB_ADDR
    return connectable(req), connectable(pub)


def add_client_args(parser: argparse.ArgumentParser) -> None:
    req, pub = client_addresses()
    parser.add_argument(
        "--req-addr",
        default=req,
        type=connectable,
        help=f"worker's request socket (default: ${ENV_REQ_ADDR}, else {DEFAULT_REQ_ADDR}; now {req})",
    )
    parser.add_argument(
        "--pub-addr",
        default=pub,
        type=connectable,
        help=f"worker's event socket (default: ${ENV_PUB_ADDR}, else {DEFAULT_PUB_ADDR}; now {pub})",
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply (default 5)")
    keys.add_key_args(parser)  # CURVE: --server-key, --client-key (else $PIXFLOW_SERVER_KEY, $PIXFLOW_CLIENT_KEY)


def client_of(args: argparse.Namespace) -> Client:
    return Client(args.req_addr, args.pub_addr, args.timeout)
