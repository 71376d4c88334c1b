"""The commands that need more than the client: serve, submit, replay, record, demo.

pixflow/cli/main.py imports this module only when one of them runs, so `status`, `cancel` and `health` start
without loading the worker, the settings, the progress view or the replay server.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import signal
import sys
from typing import Any

from pixflow.cli import workflow_args
from pixflow.cli.config_cmd import setting_overrides
from pixflow.cli.download import download_outputs
from pixflow.cli.logs import setup_logging
from pixflow.cli.progress_view import follow_jobs, print_result
from pixflow.client import Accepted, Client, new_job_id
from pixflow.errors import PixflowError
from pixflow.settings import load_settings
from pixflow.vocabulary import TERMINAL_STATES


class MissingExtraError(PixflowError):
    """A command needs an optional part of pixflow that is not installed."""

    code = "missing_extra"


def need_extra(module: str, extra: str, what: str) -> None:
    """Refuse with the pip command that installs `module` (an optional dependency) when it is missing."""
    if importlib.util.find_spec(module) is None:  # looked up without importing it
        raise MissingExtraError(f"{what} needs {module}, which is not installed: pip install 'pixflow[{extra}]'")


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def cmd_serve(args: argparse.Namespace) -> int:
    from pixflow.ops.arenas import limit_arenas
    from pixflow.serving.worker import Worker

    limit_arenas()  # before any thread: a flat RSS over a long run (pixflow/ops/arenas.py)
    overrides = setting_overrides(args)
    settings = load_settings(args.config, overrides)
    setup_logging(settings.log_level, settings.log_format)
    worker = Worker(settings, reload_settings=lambda: load_settings(args.config, overrides))
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: worker.drain())  # graceful; a second signal stops at once
    signal.signal(signal.SIGHUP, lambda *_: worker.reload())  # backends and client keys read again
    worker.run()
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    job_id = args.id or new_job_id()  # chosen here, so that a retry after a timeout is the same job
    params: dict[str, Any] = {
        "size": args.size,
        "steps": args.steps,
        "cfg_scale": args.cfg_scale,
        "model": args.model,
        "negative_prompt": args.negative_prompt,
        "seed": args.seed,
        "sampler": args.sampler,
        "scheduler": args.scheduler,
        "batch_size": args.batch_size,
        "workflow": args.workflow,
        "priority": args.priority,
        "previews": True if args.previews else None,
    }
    params = {key: value for key, value in params.items() if value is not None}
    params.update(workflow_args.submit_fields(args))  # --param, --image, --lora
    wait = args.wait or args.download is not None  # asking for the files is asking to wait for them
    with Client(args.req_addr, args.pub_addr, args.timeout) as client:
        if wait:
            client.subscribe_job(job_id)
            client.wait_subscribed(timeout=args.timeout)
        accepted = client.submit(args.prompt, id=job_id, retries=args.retries, **params)
        if accepted.existing:
            note = existing_note(accepted, client.status(job_id), {"prompt": args.prompt, **params})
            if note:
                print(f"pixflow: {note}", file=sys.stderr)
        if not wait:
            print(accepted.job_id)
            return 0
        if accepted.existing and accepted.state in TERMINAL_STATES:
            code = print_result(client.status(job_id))
        else:
            code = follow_jobs(client, [job_id], args.wait_timeout)
        for path in download_outputs(client, job_id, args.download) if args.download else []:
            print(f"downloaded {path}")
        return code


def existing_note(accepted: Accepted, job: dict[str, Any], sent: dict[str, Any]) -> str | None:
    """What to tell a user whose `generate` was answered with a job that existed already (docs/protocol.md: the
    first request with an id counts, whatever later ones say). Nothing when it was this request's own earlier
    send (a retry after a timeout) with the same fields."""
    kept = job.get("params")
    state = job.get("state", accepted.state)
    if not isinstance(kept, dict):
        return f"job {accepted.job_id} already exists (state {state}); this request was answered with it"
    # Input images are kept as their sha256 and size, not their bytes: compared by the rest of the request only.
    differing = sorted(key for key, value in sent.items() if key != "images" and kept.get(key) != value)
    if differing:
        return (
            f"job {accepted.job_id} already exists (state {state}); this request's parameters were not used "
            f"({', '.join(differing)} differ). Choose another --id for a new job"
        )
    if accepted.attempts > 1:
        return None
    return f"job {accepted.job_id} already exists (state {state}) with the same parameters; answered with that job"


def cmd_replay(args: argparse.Namespace) -> int:
    need_extra("aiohttp", "replay", "pixflow replay")
    from pixflow.replay.server import ReplayServer
    from pixflow.resources import demo_recordings

    _setup_logging(args.log_level)
    from pixflow.replay.models import BackendProfile

    names = [name.strip() for name in (args.checkpoints or "").split(",") if name.strip()]
    checkpoints = tuple(names) if args.checkpoints is not None else None
    try:
        profile = BackendProfile(checkpoints, args.speed_factor, args.switch_cost, args.run_seconds)
    except ValueError as e:
        print(f"pixflow: {e}", file=sys.stderr)
        return 2
    fixtures = args.fixtures or demo_recordings()
    server = ReplayServer(fixtures, default=args.recording, speed=args.speed, port=args.port, profile=profile)
    server.start()
    print(f"replaying {fixtures} as ComfyUI at {server.url} (speed {args.speed:g}); Ctrl-C stops", flush=True)
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # delivered to sigwait below, not as exceptions
    try:
        signal.sigwait(stop_signals)
    finally:
        server.stop()
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    """Run one workflow against a live ComfyUI and write the whole exchange as a fixture."""
    from pixflow.errors import RecordingError
    from pixflow.replay.recorder import record, record_server_info

    _setup_logging(args.log_level)
    try:
        graph = json.loads(args.graph.read_text())
    except (OSError, ValueError) as e:
        print(f"pixflow: cannot read the graph {args.graph}: {e}", file=sys.stderr)
        return 2
    images = args.images_dir or args.out.parent / "output"
    try:
        summary = record(
            args.comfyui_url,
            graph,
            args.out,
            images,
            feature_flags=args.feature_flags,
            interrupt_after_step=args.interrupt_after_step,
            timeout=args.timeout,
        )
        if args.server_info:
            record_server_info(args.comfyui_url, args.out.parent)
    except RecordingError as e:
        print(f"pixflow: recording from {args.comfyui_url} failed: {e} ({e.code})", file=sys.stderr)
        return 2
    print(
        f"{args.out}: {summary.outcome}, {summary.lines} lines ({summary.ws_json} text frames, "
        f"{summary.ws_binary} binary), {len(summary.images)} images in {summary.seconds:.1f}s"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    need_extra("aiohttp", "replay", "pixflow demo")  # its stand-in ComfyUI
    from pixflow.cli.demo import run_demo  # starts a worker: loaded only for this command

    jobs = args.jobs if args.jobs is not None else (16 if args.monitor else 3)
    return run_demo(
        args.output_dir, speed=args.speed, jobs=jobs, monitor=args.monitor, web=args.web, web_port=args.web_port
    )
