"""`pixflow jobs` (list_jobs), `pixflow retry JOB`, and the worker's switches: pause, resume, drain, enable, disable.

Client commands only: nothing here imports more than the client (they start as fast as `status`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pixflow.cli.client_args import client_of
from pixflow.cli.status_view import jobs_lines
from pixflow.client import new_job_id
from pixflow.errors import PixflowError
from pixflow.vocabulary import JobState

AddClientArgs = Callable[[argparse.ArgumentParser], None]
RETRYABLE = (JobState.FAILED.value, JobState.CANCELLED.value)
# What a job's snapshot `params` holds that is no field of a new `generate`: set by the worker, not the client.
NOT_RESENT = ("owner", "images")


class NotRetryableError(PixflowError):
    """`retry` of a job that has not failed or been cancelled (without --force), or that cannot be sent again."""

    code = "not_retryable"


def _states(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    known = {state.value for state in JobState}
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"--state takes states among {', '.join(known)}; got {text!r}")
    return names


def cmd_jobs(args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {"limit": args.limit, "offset": args.offset}
    if args.state:
        fields["state"] = [state for group in args.state for state in group]
    if args.group:
        fields["group_id"] = args.group
    if args.before:
        fields["before"] = args.before
    with client_of(args) as client:
        reply = client.call("list_jobs", **fields)
    if args.json:
        print(json.dumps({key: reply.get(key) for key in ("jobs", "total", "offset", "next")}, indent=2))
    else:
        print("\n".join(jobs_lines(reply)))
    return 0


def _switch(kind: str) -> Callable[[argparse.Namespace], int]:
    """pause/resume (the worker) or drain/enable/disable (one backend): send it, say what the worker answered."""

    def run(args: argparse.Namespace) -> int:
        fields = {"backend": args.backend} if kind in ("drain", "enable", "disable") else {}
        with client_of(args) as client:
            reply = client.call(kind, **fields)
        if reply.get("type") == "worker":
            print(f"dispatch {'paused' if reply.get('paused') else 'running'}")
        else:
            print(f"backend {reply.get('name')}: {reply.get('state')} (mode {reply.get('mode')})")
        return 0

    return run


def _input_images(job_id: str, images: dict[str, Any]) -> dict[str, bytes]:
    """The worker's copies of a job's input images, when this machine can read them (they are not on the wire)."""
    found = {}
    for name, image in images.items():
        path = (image or {}).get("file")
        try:
            found[name] = Path(str(path)).read_bytes()
        except OSError:
            raise NotRetryableError(
                f"job {job_id} had input image {name!r}, kept by the worker at {path}, which cannot be read here; "
                f"submit it again with --image {name}=PATH"
            ) from None
    return found


def cmd_retry(args: argparse.Namespace) -> int:
    """The request of a failed or cancelled job, sent again as a new job; prints the new job's id."""
    with client_of(args) as client:
        job = client.status(args.job_id)
        state = job.get("state")
        if state not in RETRYABLE and not args.force:
            raise NotRetryableError(f"job {args.job_id} is {state}, not failed or cancelled; --force sends it anyway")
        params = {key: value for key, value in (job.get("params") or {}).items() if value is not None}
        images = params.get("images") or {}
        for key in NOT_RESENT:
            params.pop(key, None)
        if images:
            params["images"] = _input_images(args.job_id, images)
        if args.new_seed:
            params.pop("seed", None)
        prompt = params.pop("prompt")
        new_id = args.id or new_job_id()
        accepted = client.submit(prompt, id=new_id, retries=args.retries, **params)
    print(f"retrying {args.job_id} ({state}) as {accepted.job_id}", file=sys.stderr)
    print(accepted.job_id)
    return 0


def add_parsers(commands: Any, add_client_args: AddClientArgs) -> None:
    jobs = commands.add_parser("jobs", help="list jobs, newest first (list_jobs)")
    jobs.add_argument(
        "--state", type=_states, action="append", metavar="STATE[,STATE]", help="only jobs in these states"
    )
    jobs.add_argument("--group", metavar="GROUP_ID", help="only the jobs of this compare group")
    jobs.add_argument("--limit", type=int, default=20, help="jobs per page, at most 1000 (default 20)")
    jobs.add_argument("--offset", type=int, default=0, help="skip this many matching jobs first (default 0)")
    jobs.add_argument("--before", metavar="JOB_ID", help="the page after: the `next page` id the previous one printed")
    jobs.add_argument("--json", action="store_true", help="the reply as JSON: jobs, total, offset, next")
    add_client_args(jobs)
    jobs.set_defaults(run=cmd_jobs)

    for kind, text in (("pause", "stop handing jobs to ComfyUI (running ones finish)"), ("resume", "dispatch again")):
        command = commands.add_parser(kind, help=text)
        add_client_args(command)
        command.set_defaults(run=_switch(kind))
    for kind, text in (
        ("drain", "BACKEND takes no new prompts; what it holds finishes there"),
        ("disable", "BACKEND takes no new prompts; those waiting in its queue move to other backends"),
        ("enable", "BACKEND takes prompts again"),
    ):
        command = commands.add_parser(kind, help=text)
        command.add_argument("backend", help="the backend's name (pixflow status lists them)")
        add_client_args(command)
        command.set_defaults(run=_switch(kind))

    retry = commands.add_parser("retry", help="send a failed or cancelled job's request again, as a new job")
    retry.add_argument("job_id")
    retry.add_argument("--id", help="the new job's id (default: a new one)")
    retry.add_argument("--force", action="store_true", help="also a job that is queued, running or done")
    retry.add_argument("--new-seed", action="store_true", help="draw a new seed (default: the job's seed again)")
    retry.add_argument("--retries", type=int, default=2, help="times to send again after a timeout (default 2)")
    add_client_args(retry)
    retry.set_defaults(run=cmd_retry)
