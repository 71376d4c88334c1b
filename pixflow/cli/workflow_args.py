"""The command line's side of workflows: `submit --param/--image/--lora` (and `--webhook`), and `pixflow workflows
[--check]`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pixflow.cli.client_args import client_of
from pixflow.cli.status_view import number


def _pair(text: str, what: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{what} must look like NAME=VALUE, got {text!r}")
    return name, value


def _param(text: str) -> tuple[str, Any]:
    name, value = _pair(text, "--param")
    try:
        return name, json.loads(value)  # 16, 0.5, true: typed; anything else is a string
    except ValueError:
        return name, value


def _image(text: str) -> tuple[str, bytes]:
    name, path = _pair(text, "--image")
    try:
        return name, Path(path).expanduser().read_bytes()
    except OSError as e:
        raise argparse.ArgumentTypeError(f"--image {name}: cannot read {path}: {e.strerror}") from e


def _lora(text: str) -> dict[str, Any]:
    name, sep, strength = text.rpartition(":")
    if not sep:
        return {"name": text, "strength": 1.0}
    try:
        return {"name": name, "strength": float(strength)}
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--lora must look like NAME or NAME:STRENGTH, got {text!r}") from e


def add_submit_args(submit: argparse.ArgumentParser) -> None:
    submit.add_argument(
        "--param", type=_param, action="append", default=[], metavar="NAME=VALUE", help="a parameter of the workflow"
    )
    submit.add_argument(
        "--image", type=_image, action="append", default=[], metavar="NAME=PATH", help="an input image of the workflow"
    )
    submit.add_argument(
        "--lora", type=_lora, action="append", default=[], metavar="NAME[:STRENGTH]", help="a LoRA (strength 1.0)"
    )
    submit.add_argument("--webhook", metavar="URL", help="POST the job's end there, signed (docs/webhooks.md)")
    submit.add_argument(
        "--webhook-events", choices=("final", "states"), default="final", help="final (default) or every state"
    )


def submit_fields(args: argparse.Namespace) -> dict[str, Any]:
    """`params`, `images` and `loras` of a `generate`, where given."""
    fields: dict[str, Any] = {}
    if args.param:
        fields["params"] = dict(args.param)
    if args.image:
        fields["images"] = dict(args.image)
    if args.lora:
        fields["loras"] = list(args.lora)
    if args.webhook:
        fields["webhook"] = {"url": args.webhook, "events": args.webhook_events}
    return fields


def _range(param: dict[str, Any]) -> str:
    if param.get("choices") is not None:
        choices = param["choices"]
        if not choices:
            return "(no backend offers a choice)"
        return (
            "one of " + ", ".join(map(str, choices[:12])) + (f" … ({len(choices)} in all)" if len(choices) > 12 else "")
        )
    low, high, step = param.get("min"), param.get("max"), param.get("step")
    text = f"{number(low)}..{number(high)}" if low is not None and high is not None else ""
    return text + (f" step {number(step)}" if step not in (None, 1, 1.0) else "")


def cmd_workflows(args: argparse.Namespace) -> int:
    """List the workflows; with --check, what each backend lacks. Exit 1 when a workflow can run nowhere."""
    with client_of(args) as client:
        reply = client.call("list_workflows")
    if args.json:
        print(json.dumps(reply["workflows"], indent=2))
    stuck = []
    for workflow in reply["workflows"]:
        runs_on = workflow.get("backends")
        if not args.json:
            where = f" [runs on: {', '.join(runs_on) or 'no backend'}]" if runs_on is not None else ""
            print(f"{workflow['name']}: {workflow['description']}{where}")
        if args.check and not args.json:
            for param in workflow.get("parameters", []):
                if param["source"] == "params":
                    kind = f"{param['kind']} {_range(param)}".strip()
                    default = number(param["default"])
                    print(f"  --param {param['name']}={default}  {kind}  {param['description']}")
            for image in workflow.get("images", []):
                print(f"  --image {image['name']}=PATH  {image['description']}")
            for backend, lacks in (workflow.get("missing") or {}).items():
                print(f"  {backend} lacks: {', '.join(lacks)}")
        if runs_on == [] and workflow.get("missing"):
            stuck.append(workflow["name"])
    if args.check and stuck:
        print(f"no backend can run: {', '.join(stuck)}")
        return 1
    return 0


def add_parser(commands: Any, add_client_args: Callable[[argparse.ArgumentParser], None]) -> None:
    workflows = commands.add_parser("workflows", help="list workflows; --check: what each backend lacks")
    workflows.add_argument(
        "--check", action="store_true", help="parameters, and what each backend lacks (exit 1: a workflow runs nowhere)"
    )
    workflows.add_argument("--json", action="store_true", help="the workflows as list_workflows answers them")
    add_client_args(workflows)
    workflows.set_defaults(run=cmd_workflows)
