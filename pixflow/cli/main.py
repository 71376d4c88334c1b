"""The `pixflow` command line: the worker (`serve`), jobs from the shell, the worker's switches, and tools.

Quick to start: this module imports the client and the small parser modules only. A command that needs more
(the worker, the settings, the progress view, the replay server) names its function as "module:function" and
the module is imported when that command runs (tests/test_cli_startup.py checks what `status` loads).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pixflow import __version__
from pixflow.cli import config_cmd, health, jobs_cmd, keys, sheet_cmd, workflow_args
from pixflow.cli.client_args import add_client_args, client_of
from pixflow.cli.compare import add_compare_parser
from pixflow.cli.status_view import job_lines, worker_lines
from pixflow.client import ClientError
from pixflow.errors import PixflowError

DEFAULT_COMFYUI_URL = config_cmd.DEFAULT_COMFYUI_URL
COMMANDS = "pixflow.cli.commands"  # serve, submit, replay, record, demo
SIGPIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for `cat`, `seq` and others when the reader went away
_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")
# Options whose value may look like an option to argparse (`--size -64x64`): joined as `--size=-64x64`, so that
# the value's own check answers with what is wrong instead of argparse's "expected one argument".
DASHED_VALUE_OPTIONS = ("--size",)


def _size(text: str) -> list[int]:
    match = _SIZE.match(text)
    if match is None or not all(int(side) > 0 for side in match.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is no size: give WIDTHxHEIGHT in whole pixels above 0, e.g. 64x64")
    return [int(match.group(1)), int(match.group(2))]


def _join_dashed_values(argv: list[str]) -> list[str]:
    joined: list[str] = []
    values = iter(argv)
    for arg in values:
        if arg in DASHED_VALUE_OPTIONS:
            value = next(values, None)
            if value is not None and value.startswith("-") and value[1:2].isdigit():
                joined.append(f"{arg}={value}")
                continue
            joined.extend([arg] if value is None else [arg, value])
            continue
        joined.append(arg)
    return joined


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=lambda b: f"<{len(b)} bytes>"))


# Commands that need the client only.
def cmd_status(args: argparse.Namespace) -> int:
    with client_of(args) as client:
        reply = client.status(args.job_id)
    if args.json:
        _print_json(reply)
    else:
        print("\n".join(job_lines(reply) if args.job_id else worker_lines(reply)))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    with client_of(args) as client:
        job = client.cancel(args.job_id)
    print(f"{job['job_id']}: {job['state']} (cancel requested)")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    with client_of(args) as client:
        for name in client.call("list_models")["models"]:
            print(name)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixflow")
    parser.add_argument("--version", action="version", version=f"pixflow {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the worker")
    config_cmd.add_setting_flags(serve)
    serve.set_defaults(run=f"{COMMANDS}:cmd_serve")

    submit = commands.add_parser("submit", help="queue a job")
    submit.add_argument("prompt")
    submit.add_argument("--id", help="job id (default: a new one); submitting the same id again is the same job")
    submit.add_argument("--retries", type=int, default=2, help="times to resend after a timeout (default 2)")
    submit.add_argument("--model", help="checkpoint, one `pixflow models` lists (default: the workflow's)")
    submit.add_argument("--size", type=_size, metavar="WxH", help="width x height, multiples of 8 (default 512x512)")
    submit.add_argument("--steps", type=int, help="sampler steps, 1-150 (default 20)")
    submit.add_argument("--cfg-scale", type=float, help="0-100 (default 7.0)")
    submit.add_argument("--negative-prompt", help="what the image should not show (default: none)")
    submit.add_argument("--seed", type=int, help="0 to 2^64-1 (default: drawn, and recorded in the sidecar)")
    submit.add_argument("--sampler", help="ComfyUI sampler name (default euler)")
    submit.add_argument("--scheduler", help="ComfyUI scheduler name (default normal)")
    submit.add_argument("--batch-size", type=int, help="images in one run, 1-64 (default 1)")
    submit.add_argument("--workflow", help="a name `pixflow workflows` lists (default: the worker's, txt2img)")
    submit.add_argument("--priority", type=int, help="-1000 to 1000, higher runs first (default 0)")
    submit.add_argument("--previews", action="store_true", help="ask for live preview frames (job.preview events)")
    submit.add_argument("--wait", action="store_true", help="show live progress, then the output paths")
    submit.add_argument("--wait-timeout", type=float, default=600.0, help="seconds --wait gives the job (default 600)")
    submit.add_argument(
        "--download", type=Path, metavar="DIR", help="save the images here, fetched over the wire (implies --wait)"
    )
    workflow_args.add_submit_args(submit)  # --param, --image, --lora
    add_client_args(submit)
    submit.set_defaults(run=f"{COMMANDS}:cmd_submit")

    status = commands.add_parser("status", help="the worker's status, or one job's")
    status.add_argument("job_id", nargs="?")
    status.add_argument("--json", action="store_true", help="the reply as the worker sent it, as JSON")
    add_client_args(status)
    status.set_defaults(run=cmd_status)

    jobs_cmd.add_parsers(commands, add_client_args)  # jobs, pause, resume, drain, disable, enable, retry
    health.add_parser(commands, add_client_args)
    keys.add_parser(commands)
    config_cmd.add_parser(commands)

    cancel = commands.add_parser("cancel", help="cancel a job")
    cancel.add_argument("job_id")
    add_client_args(cancel)
    cancel.set_defaults(run=cmd_cancel)

    workflow_args.add_parser(commands, add_client_args)  # workflows [--check]
    for name, function, text in (("models", cmd_models, "list checkpoints"),):
        command = commands.add_parser(name, help=text)
        add_client_args(command)
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

    add_compare_parser(commands, add_client_args, _size)
    sprite = commands.add_parser("sprite", help="turn fake pixel art into a sprite (grid, palette, alpha, outline)")
    sprite.add_argument("input", nargs="?", type=Path, metavar="IN", help="the generated image (PNG, JPEG, WebP)")
    sprite.add_argument("output", nargs="?", type=Path, metavar="OUT", help="the sprite to write (PNG)")
    sprite.add_argument("--grid", default="auto", metavar="auto|WxH", help="the sprite's size in cells (default auto)")
    sprite.add_argument("--cell-px", type=float, default=0.0, metavar="N", help="a cell's size in source pixels")
    sprite.add_argument("--given", default="fallback", metavar="fallback|override")
    sprite.add_argument("--method", default="majority", metavar="majority|k-centroid|median")
    palette_help = "a shipped palette (--list-palettes), adaptive, none, a .hex/.gpl/.pal file or an image file"
    sprite.add_argument("--palette", default="adaptive", metavar="NAME|adaptive|none|FILE", help=palette_help)
    sprite.add_argument("--colors", type=int, default=16, metavar="N", help="colours of an adaptive palette")
    sprite.add_argument("--dither", default="none", metavar="none|ordered")
    sprite.add_argument("--alpha", default="border", metavar="none|border|key")
    sprite.add_argument("--tolerance", type=float, default=8.0, metavar="X", help="OKLab x 100 (default 8)")
    sprite.add_argument("--key", default="auto", metavar="auto|#rrggbb", help="the background colour")
    sprite.add_argument("--outline", action="store_true", help="draw a one-pixel outline")
    sprite.add_argument("--outline-colour", default="darkest", metavar="darkest|#rrggbb")
    sprite.add_argument("--cell", default="auto", metavar="auto|WxH", help="place the sprite in a cell of this size")
    sprite.add_argument("--no-trim", action="store_true", help="keep the grid's whole canvas")
    sprite.add_argument("--anchor", default="center", metavar="center|bottom")
    sprite.add_argument("--record", type=Path, metavar="FILE", help="write the steps' records and palette as JSON")
    sprite.add_argument("--scale", type=int, default=0, metavar="N", help="also write OUT scaled up N times (x N)")
    sprite.add_argument("--list-palettes", action="store_true", help="the shipped palettes, then exit")
    sprite.set_defaults(run="pixflow.cli.sprite_cmd:cmd_sprite")  # steps and Pillow load only when it runs

    sheet_cmd.add_parsers(commands, add_client_args, _size)  # sheet, reroll

    web = commands.add_parser("web", help="an HTTP API and server-sent events over the worker (docs/web.md)")
    web.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT", help="default 127.0.0.1:8080")
    web.add_argument("--tokens", type=Path, metavar="FILE", help="bearer tokens and their roles (YAML or JSON)")
    add_client_args(web)
    web.set_defaults(run="pixflow_web.cli:cmd_web")  # aiohttp loads only when it runs (pip install 'pixflow[web]')

    demo = commands.add_parser("demo", help="replay server + worker + a few jobs with live progress")
    demo.add_argument("--output-dir", type=Path, default=Path("output/demo"))
    demo.add_argument("--speed", type=float, default=1.0)
    demo.add_argument("--jobs", type=int, help="how many jobs (default 3, or 16 with --monitor)")
    demo.add_argument("--monitor", action="store_true", help="watch the jobs in pixflow-monitor; q quits")
    demo.add_argument("--web", action="store_true", help="also serve the web console (pixflow web); Ctrl-C quits")
    demo.add_argument("--web-port", type=int, default=0, metavar="PORT", help="its loopback port (default: a free one)")
    demo.set_defaults(run=f"{COMMANDS}:cmd_demo")
    # Said once, from the commands themselves, so that no command is ever missing from `pixflow --help`.
    parser.description = "The pixflow command line: " + ", ".join(commands.choices) + "."
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
    args = build_parser().parse_args(_join_dashed_values(sys.argv[1:] if argv is None else argv))
    run = _resolve(args.run)
    try:
        keys.export_key_args(args)
        exit_code = run(args)
        sys.stdout.flush()  # inside the try: a reader that went away is seen here, not at exit
        return exit_code
    except BrokenPipeError:
        # `pixflow jobs | head`: the reader has what it wanted. No traceback; stdout goes to /dev/null so that
        # Python's own flush at exit fails no more, and the exit code is the one a shell shows for other tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT
    except ClientError as e:
        print(f"pixflow: {e.message} ({e.code})", file=sys.stderr)
        return 2
    except PixflowError as e:
        code = getattr(e, "code", None)
        print(f"pixflow: {e}" + (f" ({code})" if code else ""), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
