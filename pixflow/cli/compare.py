"""`pixflow compare`: one prompt over several models and/or seeds, as a group, with its contact sheet."""

from __future__ import annotations

import argparse
from typing import Any

from pixflow.client import Client, ClientError, new_job_id
from pixflow.vocabulary import TOPIC_GROUP_DONE

SHEET_WAIT = 30.0  # seconds to wait for the sheet once every job has ended (it is drawn on a thread)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _seeds(text: str) -> list[int]:
    try:
        return [int(seed) for seed in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers separated by commas, got {text!r}") from None


def add_compare_parser(commands: Any, add_client_args: Any, size: Any) -> None:
    compare = commands.add_parser("compare", help="one prompt over several models and/or seeds, side by side")
    compare.add_argument("prompt")
    compare.add_argument("--models", type=_names, help="comma-separated checkpoints, e.g. A,B")
    compare.add_argument("--seeds", type=_seeds, help="comma-separated seeds, e.g. 1,2")
    compare.add_argument("--group-id", help="the group's id (default: a new one); the same id again is the same group")
    compare.add_argument("--retries", type=int, default=2, help="times to send again after a timeout (same group id)")
    compare.add_argument("--size", type=size, help="WIDTHxHEIGHT, e.g. 64x64")
    compare.add_argument("--steps", type=int)
    compare.add_argument("--cfg-scale", type=float)
    compare.add_argument("--negative-prompt")
    compare.add_argument("--workflow")
    compare.add_argument("--priority", type=int)
    compare.add_argument("--wait", action="store_true", help="show live progress, then the contact sheet")
    compare.add_argument("--wait-timeout", type=float, default=600.0, help="seconds --wait gives the group")
    add_client_args(compare)
    compare.set_defaults(run=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    group_id = args.group_id or new_job_id()  # chosen here, so that a retry after a timeout is the same group
    fields = {
        "models": args.models,
        "seeds": args.seeds,
        "size": args.size,
        "steps": args.steps,
        "cfg_scale": args.cfg_scale,
        "negative_prompt": args.negative_prompt,
        "workflow": args.workflow,
        "priority": args.priority,
    }
    fields = {key: value for key, value in fields.items() if value is not None}
    with Client(args.req_addr, args.pub_addr, args.timeout) as client:
        if args.wait:  # before sending, so the group's end cannot pass unseen (the jobs are followed with status)
            client.subscribe(f"{TOPIC_GROUP_DONE}{group_id}")
        group = client.compare(args.prompt, group_id=group_id, retries=args.retries, **fields)
        print(f"group {group['group_id']}{' (existing)' if group['existing'] else ''}: {' '.join(group['job_ids'])}")
        if not args.wait:
            return 0
        if group["finished"] and group["contact_sheet"]:  # an existing group that has ended: nothing to wait for
            print(f"contact sheet: {group['contact_sheet']}")
            return 0 if all(job["state"] == "done" for job in group["jobs"]) else 1
        from pixflow.cli.progress_view import follow_jobs  # rich: only for --wait, not for main's import

        code = follow_jobs(client, group["job_ids"], args.wait_timeout)
        sheet = _wait_for_sheet(client, group_id)
        print(f"contact sheet: {sheet}" if sheet else "contact sheet: not written (see the worker's log)")
        return code


def _wait_for_sheet(client: Client, group_id: str) -> str | None:
    """The sheet's path: from the group's end event, or from `group` if that event came before we listened."""
    topic = f"{TOPIC_GROUP_DONE}{group_id}"
    try:
        _, event = client.next_event(SHEET_WAIT, want=lambda name, _: name == topic)
        return str(event["contact_sheet"]) if event.get("contact_sheet") else None
    except ClientError:
        sheet = client.call("group", group_id=group_id).get("contact_sheet")
        return str(sheet) if sheet else None
