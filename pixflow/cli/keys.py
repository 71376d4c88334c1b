"""`pixflow keys new NAME`: a CURVE keypair for the worker or a client (docs/security.md); the client key flags."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pixflow.client.keys import ENV_CLIENT_KEY, ENV_SERVER_KEY
from pixflow.security.keys import new_keypair
from pixflow.security.roles import ROLE_NAMES


def cmd_keys_new(args: argparse.Namespace) -> int:
    public, secret = new_keypair(args.name, args.dir, args.role)
    print(f"public key: {public}\nsecret key: {secret} (mode 0600: give it to its holder only, then delete it here)")
    if args.role:
        print(f"role {args.role} recorded in {args.dir / 'roles.yaml'}")
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="CURVE keys for remote clients (docs/security.md)")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    new = actions.add_parser("new", help="write NAME.key (public) and NAME.key_secret (mode 0600)")
    new.add_argument("name", help="the key's name: the owner of its jobs, the name in the worker's logs")
    new.add_argument("--dir", type=Path, default=Path("."), help="where to write the files (default: here)")
    new.add_argument(
        "--role",
        choices=ROLE_NAMES,
        help="record this role for NAME in DIR/roles.yaml (for keys made in the worker's curve_clients_dir)",
    )
    new.set_defaults(run=cmd_keys_new)


def add_key_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server-key", help=f"the worker's public key file NAME.key (or ${ENV_SERVER_KEY})")
    parser.add_argument("--client-key", help=f"this client's NAME.key_secret (or ${ENV_CLIENT_KEY})")


def export_key_args(args: argparse.Namespace) -> None:
    """Flags win over the environment; every Client this command makes reads the environment (client/keys.py)."""
    for flag, variable in (("server_key", ENV_SERVER_KEY), ("client_key", ENV_CLIENT_KEY)):
        value = getattr(args, flag, None)
        if value:
            os.environ[variable] = value
