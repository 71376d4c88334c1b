"""`pixflow config check FILE` and `pixflow config show`; the setting flags `serve` and `config show` share.

`check` loads FILE and the PIXFLOW_* variables as `serve` does (`--no-env`: FILE alone) and applies every check
`serve` makes before it binds a socket (each value's rule, the workflows and the default one, CURVE keys, no
network address without keys unless insecure): exit 0, or 2 with every problem it finds, one a line. `show`
prints the settings `pixflow serve` would run with, each with where it came from: default, file PATH,
environment PIXFLOW_NAME, or flag. The settings module is imported only when one of
these runs (main.py registers this parser for every command).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from pixflow.errors import ConfigError

DEFAULT_COMFYUI_URL = "http://127.0.0.1:8188"  # as pixflow.settings says; repeated so that --help imports no YAML


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    from pixflow.cli.logs import FORMATS
    from pixflow.protocol import DEFAULT_PUB_ADDR, DEFAULT_REQ_ADDR

    parser.add_argument("--config", type=Path, help="YAML settings file")
    parser.add_argument("--comfyui-url", help=f"ComfyUI server (default {DEFAULT_COMFYUI_URL})")
    parser.add_argument("--req-addr", help=f"request socket to bind (default {DEFAULT_REQ_ADDR})")
    parser.add_argument("--pub-addr", help=f"event socket to bind (default {DEFAULT_PUB_ADDR})")
    parser.add_argument("--output-dir", type=Path, help="where images and sidecars go (default ./output)")
    parser.add_argument("--workflows-dir", type=Path, help="workflow folder (default: the ones pixflow ships)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING (default INFO)")
    parser.add_argument("--log-format", choices=FORMATS, help="plain lines, or json: one object a line")
    parser.add_argument("--insecure", action="store_true", help="allow a non-loopback address without CURVE keys")


def setting_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the flags give (None: not given, the file or the environment decides)."""
    return {
        "comfyui_url": args.comfyui_url,
        "req_addr": args.req_addr,
        "pub_addr": args.pub_addr,
        "output_dir": args.output_dir,
        "workflows_dir": args.workflows_dir,
        "log_level": args.log_level,
        "log_format": args.log_format,
        "insecure": True if args.insecure else None,
    }


class ConfigCheckError(ConfigError):
    """`pixflow config check` found problems: one line each."""

    def __init__(self, problems: list[Exception]) -> None:
        lines = [str(problem) for problem in problems]
        head = f"{len(lines)} problems:\n  " if len(lines) > 1 else ""
        super().__init__(head + "\n  ".join(lines))
        codes = {getattr(problem, "code", None) or "invalid_config" for problem in problems}
        self.code = codes.pop() if len(codes) == 1 else "invalid_config"


def startup_problems(settings: Any) -> list[Exception]:
    """What `serve` refuses once the settings are loaded, before it binds (serving/worker.py, security/guard.py)."""
    from pixflow.errors import WorkflowError
    from pixflow.security.exposure import startup_problems as security_problems
    from pixflow.workflows import load_workflows

    problems: list[Exception] = []
    try:
        if settings.default_workflow not in load_workflows(settings.workflows_dir):
            problems.append(
                ConfigError(f"default workflow {settings.default_workflow!r} is not in {settings.workflows_dir}")
            )
    except (WorkflowError, OSError) as e:
        problems.append(e)
    addresses = settings.req_addr, settings.pub_addr
    keys = settings.curve_secret_key, settings.curve_clients_dir
    problems.extend(security_problems(*addresses, *keys, settings.insecure))
    return problems


def cmd_check(args: argparse.Namespace) -> int:
    from pixflow.settings import check_settings

    sources: dict[str, str] = {}
    settings, problems = check_settings(args.file, environ={} if args.no_env else None, sources=sources)
    found: list[Exception] = [*problems, *(startup_problems(settings) if settings is not None else [])]
    if found:
        raise ConfigCheckError(found)  # main prints it and exits 2
    from_env = sum(1 for source in sources.values() if source.startswith("environment"))
    env = f", {from_env} from PIXFLOW_* variables" if from_env else ""
    count = f"{len(sources)} setting{'' if len(sources) == 1 else 's'}"
    print(f"{args.file}: ok ({count}{env}; the others are defaults)")
    return 0


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def cmd_show(args: argparse.Namespace) -> int:
    from pixflow.settings import Settings, load_settings

    sources: dict[str, str] = {}
    settings = load_settings(args.config, setting_overrides(args), sources=sources)
    rows = []
    for field in fields(Settings):
        value = getattr(settings, field.name)
        if field.name == "backends":
            value = [{**asdict(b), "labels": dict(b.labels)} for b in settings.backends]
        rows.append((field.name, _plain(value), sources.get(field.name, "default")))
    if args.json:
        print(json.dumps({name: {"value": value, "source": source} for name, value, source in rows}, indent=2))
        return 0
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        shown = json.dumps(value) if isinstance(value, list | dict) or value is None else str(value)
        print(f"{name:<{width}}  {shown}  ({source})")
    return 0


def add_parser(commands: Any) -> None:
    config = commands.add_parser("config", help="check a settings file, or show the effective settings")
    actions = config.add_subparsers(dest="config_command", required=True)
    check = actions.add_parser(
        "check", help="exit 0 if `serve` would start with FILE (and PIXFLOW_* variables), else 2 with every problem"
    )
    check.add_argument("file", type=Path)
    check.add_argument("--no-env", action="store_true", help="FILE alone: ignore the PIXFLOW_* variables")
    check.set_defaults(run=cmd_check)
    show = actions.add_parser("show", help="the settings `serve` would use with these flags, and where each came from")
    add_setting_flags(show)
    show.add_argument("--json", action="store_true", help="{name: {value, source}} instead of lines")
    show.set_defaults(run=cmd_show)
