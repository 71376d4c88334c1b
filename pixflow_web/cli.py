"""`pixflow web`: parse the address, read the tokens and keys, and serve until SIGINT or SIGTERM.

Registered in pixflow/cli/main.py as "pixflow_web.cli:cmd_web", imported only when the command runs. Without the
extra (aiohttp) it ends with one line naming the pip command (code `missing_extra`, exit 2), before importing it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
from pathlib import Path

from pixflow.client.keys import client_keys
from pixflow.errors import ConfigError, PixflowError

DEFAULT_LISTEN = "127.0.0.1:8080"


class MissingExtraError(PixflowError):
    code = "missing_extra"


class ListenError(ConfigError):
    code = "invalid_listen"


def need_aiohttp() -> None:
    try:
        found = importlib.util.find_spec("aiohttp") is not None
    except ValueError:  # set to None in sys.modules: it cannot be imported either
        found = False
    if not found:
        raise MissingExtraError("pixflow web needs aiohttp, which is not installed: pip install 'pixflow[web]'")


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT, [IPV6]:PORT or :PORT (every address: needs tokens)."""
    host, colon, port = text.strip().rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ListenError(f"--listen {text!r}: give HOST:PORT, e.g. {DEFAULT_LISTEN} (port 0: any free one)")
    host = host.strip("[]")
    return (host or "0.0.0.0"), int(port)


def cmd_web(args: argparse.Namespace) -> int:
    need_aiohttp()
    from pixflow_web.auth import check_listen, load_tokens
    from pixflow_web.server import WebConfig, serve_forever

    host, port = parse_listen(args.listen)
    tokens = load_tokens(Path(args.tokens)) if args.tokens else None
    check_listen(host, tokens)  # before anything is opened
    try:
        keys = client_keys(args.server_key, args.client_key)
    except (OSError, ValueError) as e:
        raise ConfigError(f"CURVE keys: {e}") from e
    config = WebConfig(args.req_addr, args.pub_addr, host, port, args.timeout, keys, tokens)
    try:
        asyncio.run(serve_forever(config))
    except OSError as e:
        raise ConfigError(f"cannot listen on {args.listen}: {e.strerror or e}") from e
    return 0
