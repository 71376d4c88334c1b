"""The `pixflow` command line: serve, submit, status, cancel, models, workflows, replay, demo."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pixflow.cli import health, keys
from pixflow.cli.compare import add_compare_parser
from pixflow.cli.download import download_outputs
from pixflow.cli.logs import FORMATS, setup_logging
from pixflow.cli.progress_view import follow_jobs, print_result
from pixflow.client import Client, ClientError, new_job_id
from pixflow.config import DEFAULT_COMFYUI_URL, load_settings
from pixflow.errors import PixflowError
from pixflow.protocol import DEFAULT_PUB_ADDR, DEFAULT_REQ_ADDR
from pixflow.replay.recordings import DEFAULT_FIXTURES
from pixflow.vocabulary import TERMINAL_STATES


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("transitions").setLevel(logging.WARNING)


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


# Commands.
def cmd_serve(args: argparse.Namespace) -> int:
    from pixflow.worker import Worker

    overrides = {
        "comfyui_url": args.comfyui_url,
        "req_addr": args.req_addr,
        "pub_addr": args.pub_addr,
        "output_dir": args.output_dir,
        "workflows_dir": args.workflows_dir,
        "log_level": args.log_level,
        "log_format": args.log_format,
        "insecure": True if args.insecure else None,
    }
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
    }
    params = {key: value for key, value in params.items() if value is not None}
    with Client(args.req_addr, args.pub_addr, args.timeout) as client:
        if args.wait:
            client.subscribe_job(job_id)
            client.wait_subscribed(timeout=args.timeout)
        accepted = client.submit(args.prompt, id=job_id, retries=args.retries, **params)
        if not args.wait:
            print(accepted.job_id)
            return 0
        if accepted.existing and accepted.state in TERMINAL_STATES:
            code = print_result(client.status(job_id))
        else:
            code = follow_jobs(client, [job_id], args.wait_timeout)
        for path in download_outputs(client, job_id, args.download) if args.download else []:
            print(f"downloaded {path}")
        return code


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


def cmd_workflows(args: argparse.Namespace) -> int:
    with Client(args.req_addr, args.pub_addr, args.timeout) as client:
        for workflow in client.call("list_workflows")["workflows"]:
            print(f"{workflow['name']}: {workflow['description']}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from pixflow.replay.server import ReplayServer

    _setup_logging(args.log_level)
    from pixflow.replay.models import BackendProfile

    names = [name.strip() for name in (args.checkpoints or "").split(",") if name.strip()]
    checkpoints = tuple(names) if args.checkpoints is not None else None
    try:
        profile = BackendProfile(checkpoints, args.speed_factor, args.switch_cost, args.run_seconds)
    except ValueError as e:
        print(f"pixflow: {e}", file=sys.stderr)
        return 2
    server = ReplayServer(args.fixtures, default=args.recording, speed=args.speed, port=args.port, profile=profile)
    server.start()
    print(f"replaying {args.fixtures} as ComfyUI at {server.url} (speed {args.speed:g}); Ctrl-C stops", flush=True)
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
    from pixflow.cli.demo import run_demo  # starts a worker: loaded only for this command

    jobs = args.jobs if args.jobs is not None else (16 if args.monitor else 3)
    return run_demo(args.output_dir, speed=args.speed, jobs=jobs, monitor=args.monitor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the worker")
    serve.add_argument("--config", type=Path, help="YAML settings file")
    serve.add_argument("--comfyui-url", help=f"ComfyUI server (default {DEFAULT_COMFYUI_URL})")
    serve.add_argument("--req-addr", help=f"request socket to bind (default {DEFAULT_REQ_ADDR})")
    serve.add_argument("--pub-addr", help=f"event socket to bind (default {DEFAULT_PUB_ADDR})")
    serve.add_argument("--output-dir", type=Path, help="where images and sidecars go (default ./output)")
    serve.add_argument("--workflows-dir", type=Path, help="workflow folder (default: the repo's workflows/)")
    serve.add_argument("--log-level", help="DEBUG, INFO, WARNING (default INFO)")
    serve.add_argument("--log-format", choices=FORMATS, help="plain lines, or json: one object a line")
    serve.add_argument("--insecure", action="store_true", help="allow a non-loopback address without CURVE keys")
    serve.set_defaults(run=cmd_serve)

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
    _add_client_args(submit)
    submit.set_defaults(run=cmd_submit)

    status = commands.add_parser("status", help="the worker's status, or one job's")
    status.add_argument("job_id", nargs="?")
    _add_client_args(status)
    status.set_defaults(run=cmd_status)

    health.add_parser(commands, _add_client_args)
    keys.add_parser(commands)

    cancel = commands.add_parser("cancel", help="cancel a job")
    cancel.add_argument("job_id")
    _add_client_args(cancel)
    cancel.set_defaults(run=cmd_cancel)

    for name, function, text in (
        ("models", cmd_models, "list checkpoints"),
        ("workflows", cmd_workflows, "list workflows"),
    ):
        command = commands.add_parser(name, help=text)
        _add_client_args(command)
        command.set_defaults(run=function)

    replay = commands.add_parser("replay", help="serve recorded ComfyUI runs as a stand-in ComfyUI")
    replay.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    replay.add_argument("--recording", default="fresh", help="recording played for each prompt")
    replay.add_argument("--speed", type=float, default=1.0, help="0: no delays, 1: recorded timing")
    replay.add_argument("--port", type=int, default=8188)
    replay.add_argument("--checkpoints", help="comma-separated checkpoints it has (default: the fixture's)")
    replay.add_argument("--speed-factor", type=float, default=1.0, help="runs take this many times longer")
    replay.add_argument("--switch-cost", type=float, default=0.0, help="seconds to load another checkpoint")
    replay.add_argument("--run-seconds", type=float, default=0.0, help="work added to each prompt, in seconds")
    replay.add_argument("--log-level", default="INFO")
    replay.set_defaults(run=cmd_replay)

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
    record.set_defaults(run=cmd_record)

    add_compare_parser(commands, _add_client_args, _size)

    demo = commands.add_parser("demo", help="replay server + worker + a few jobs with live progress")
    demo.add_argument("--output-dir", type=Path, default=Path("output/demo"))
    demo.add_argument("--speed", type=float, default=1.0)
    demo.add_argument("--jobs", type=int, help="how many jobs (default 3, or 16 with --monitor)")
    demo.add_argument("--monitor", action="store_true", help="watch the jobs in pixflow-monitor; q quits")
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; pixflow's own errors end it with a one-line message (and code, if any) and exit code 2."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
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
