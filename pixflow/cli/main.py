"""The `pixflow` command line: serve, submit, status, cancel, health, models, workflows, replay, demo, config.

Quick to start: this module imports the client and the small parser modules only. A command that needs more
(the worker, the settings, the progress view, the replay server) names its function as "module:function" and
the module is imported when that command runs (tests/test_cli_startup.py checks what `status` loads).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pixflow import __version__
from pixflow.cli import config_cmd, health, keys, workflow_args
from pixflow.cli.compare import add_compare_parser
from pixflow.client import Client, ClientError
from pixflow.errors import PixflowError
from pixflow.protocol import DEFAULT_PUB_ADDR, DEFAULT_REQ_ADDR

DEFAULT_COMFYUI_URL = config_cmd.DEFAULT_COMFYUI_URL
COMMANDS = "pixflow.cli.commands"  # serve, submit, replay, record, demo


def _size(text: str) -> list[int]:
    try:
        width, height = text.lower().split("x")
        return [int(width), int(height)]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"size must look like 64x64, got {text!r}") from e


def _add_client_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--req-addr", default=DEFAULT_REQ_ADDR, help="worker's request socket")
    parser.add_argument("--pub-addr", default=DEFAULT_PUB_ADDR, help="worker's event socket")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply")
    keys.add_key_args(parser)  # CURVE: --server-key, --client-key


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=lambda b: f"<{len(b)} bytes>"))


# Commands that need the client only.
def cmd_status(args: argparse.Namespace) -> int:
    with Client(args.req_addr, args.pub_addr, args.timeout) as client:
        _print_json(client.status(args.job_id))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    with Client(args.req_addr, args.pub_addr, args.timeout) as client:
        job = client.cancel(args.job_id)
    print(f"{job['job_id']}: {job['state']} (cancel requested)")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    with Client(args.req_addr, args.pub_addr, args.timeout) as client:
        for name in client.call("list_models")["models"]:
            print(name)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixflow", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"pixflow {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the worker")
    config_cmd.add_setting_flags(serve)
    serve.set_defaults(run=f"{COMMANDS}:cmd_serve")

    submit = commands.add_parser("submit", help="queue a job")
    submit.add_argument("prompt")
    submit.add_argument("--id", help="job id (default: a new one); submitting the same id again is the same job")
    submit.add_argument("--retries", type=int, default=2, help="times to send again after a timeout (same id)")
    submit.add_argument("--model")
    submit.add_argument("--size", type=_size, help="WIDTHxHEIGHT, e.g. 64x64")
    submit.add_argument("--steps", type=int)
    submit.add_argument("--cfg-scale", type=float)
    submit.add_argument("--negative-prompt")
    submit.add_argument("--seed", type=int)
    submit.add_argument("--sampler")
    submit.add_argument("--scheduler")
    submit.add_argument("--batch-size", type=int)
    submit.add_argument("--workflow")
    submit.add_argument("--priority", type=int)
    submit.add_argument("--wait", action="store_true", help="show live progress, then the output paths")
    submit.add_argument("--wait-timeout", type=float, default=600.0, help="seconds --wait gives the job")
    submit.add_argument("--download", type=Path, help="with --wait: save the images here (fetched over the wire)")
    workflow_args.add_submit_args(submit)  # --param, --image, --lora
    _add_client_args(submit)
    submit.set_defaults(run=f"{COMMANDS}:cmd_submit")

    status = commands.add_parser("status", help="the worker's status, or one job's")
    status.add_argument("job_id", nargs="?")
    _add_client_args(status)
    status.set_defaults(run=cmd_status)

    health.add_parser(commands, _add_client_args)
    keys.add_parser(commands)
    config_cmd.add_parser(commands)

    cancel = commands.add_parser("cancel", help="cancel a job")
    cancel.add_argument("job_id")
    _add_client_args(cancel)
    cancel.set_defaults(run=cmd_cancel)

    workflow_args.add_parser(commands, _add_client_args)  # workflows [--check]
    for name, function, text in (("models", cmd_models, "list checkpoints"),):
        command = commands.add_parser(name, help=text)
        _add_client_args(command)
        command.set_defaults(run=function)

    replay = commands.add_parser("replay", help="serve recorded ComfyUI runs as a stand-in ComfyUI")
    replay.add_argument("--fixtures", type=Path, help="a folder of recordings (default: the ones pixflow ships)")
    replay.add_argument("--recording", default="fresh", help="recording played for each prompt")
    replay.add_argument("--speed", type=float, default=1.0, help="0: no delays, 1: recorded timing")
    replay.add_argument("--port", type=int, default=8188)
    replay.add_argument("--checkpoints", help="comma-separated checkpoints it has (default: the fixture's)")
    replay.add_argument("--speed-factor", type=float, default=1.0, help="runs take this many times longer")
    replay.add_argument("--switch-cost", type=float, default=0.0, help="seconds to load another checkpoint")
    replay.add_argument("--run-seconds", type=float, default=0.0, help="work added to each prompt, in seconds")
    replay.add_argument("--log-level", default="INFO")
    replay.set_defaults(run=f"{COMMANDS}:cmd_replay")

    record = commands.add_parser("record", help="record a workflow run against a live ComfyUI as a fixture")
    record.add_argument("graph", type=Path, help="API-format workflow graph (JSON)")
    record.add_argument("--out", type=Path, required=True, help="the recording to write (.jsonl)")
    record.add_argument("--comfyui-url", default=DEFAULT_COMFYUI_URL)
    record.add_argument("--images-dir", type=Path, help="where /view images go (default: OUT's folder/output)")
    record.add_argument("--feature-flags", action="store_true", help="opt in to previews with metadata (type 4)")
    record.add_argument("--interrupt-after-step", type=int, help="POST /interrupt after this sampler step")
    record.add_argument("--server-info", action="store_true", help="also write object_info.json, system_stats.json")
    record.add_argument("--timeout", type=float, default=120.0)
    record.add_argument("--log-level", default="WARNING")
    record.set_defaults(run=f"{COMMANDS}:cmd_record")

    add_compare_parser(commands, _add_client_args, _size)

    demo = commands.add_parser("demo", help="replay server + worker + a few jobs with live progress")
    demo.add_argument("--output-dir", type=Path, default=Path("output/demo"))
    demo.add_argument("--speed", type=float, default=1.0)
    demo.add_argument("--jobs", type=int, help="how many jobs (default 3, or 16 with --monitor)")
    demo.add_argument("--monitor", action="store_true", help="watch the jobs in pixflow-monitor; q quits")
    demo.set_defaults(run=f"{COMMANDS}:cmd_demo")
    return parser


def _resolve(run: Callable[[argparse.Namespace], int] | str) -> Callable[[argparse.Namespace], int]:
    """A command's function; "module:function" is imported now, for the one command that runs."""
    if callable(run):
        return run
    module, _, name = run.partition(":")
    function: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), name)
    return function


def main(argv: list[str] | None = None) -> int:
    """Run one command; pixflow's own errors end it with a one-line message (and code, if any) and exit code 2."""
    args = build_parser().parse_args(argv)
    run = _resolve(args.run)
    try:
        keys.export_key_args(args)
        return run(args)
    except ClientError as e:
        print(f"pixflow: {e.message} ({e.code})", file=sys.stderr)
        return 2
    except PixflowError as e:
        code = getattr(e, "code", None)
        print(f"pixflow: {e}" + (f" ({code})" if code else ""), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
