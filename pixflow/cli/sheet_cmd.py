"""`pixflow sheet`: a character's sprite sheet (rows of frames, one cell size, one palette) made by the worker as a
group of jobs; `--wait` follows it and `--out` downloads the sheet, its atlas and a GIF per row. `pixflow reroll`:
a frame made again with a new seed (`retry`), after which the sheet is rebuilt."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pixflow.cli.client_args import client_of
from pixflow.cli.workflow_args import add_submit_args, submit_fields
from pixflow.client import Client, ClientError, new_job_id
from pixflow.vocabulary import TOPIC_GROUP_DONE

SHEET_WAIT = 60.0  # seconds to wait for the sheet's files once every job has ended (drawn on a thread)


def _row(text: str) -> dict[str, str]:
    name, _, prompt = text.partition("=")
    return {"name": name.strip(), "prompt": prompt.strip()}


def _cell(text: str) -> list[int]:
    width, sep, height = text.lower().partition("x")
    try:
        return [int(width), int(height if sep else width)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--cell must look like WxH (e.g. 48x48), got {text!r}") from None


def _palette(text: str) -> str:
    """A shipped palette's name or colours as they are; a .hex/.gpl/.pal file's text (the worker parses it)."""
    path = Path(text).expanduser()
    if path.suffix.lower() in (".hex", ".gpl", ".pal"):
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise argparse.ArgumentTypeError(f"--palette: cannot read {path}: {e.strerror}") from e
    return text


def add_parsers(commands: Any, add_client_args: Any, size: Any) -> None:
    sheet = commands.add_parser("sheet", help="a sprite sheet: rows of frames of one character (docs/sprites.md)")
    sheet.add_argument("prompt", help="the subject, the same in every frame (e.g. 'pixel art knight, side view')")
    sheet.add_argument(
        "--row", type=_row, action="append", required=True, metavar="NAME[=PROMPT]", help="a row, e.g. walk='walking'"
    )
    sheet.add_argument("--frames", type=int, default=4, help="frames per row, 1-16 (default 4)")
    sheet.add_argument("--cell", type=_cell, metavar="WxH", help="each frame's cell in pixels (default 64x64)")
    sheet.add_argument("--palette", type=_palette, help="locked for the sheet: NAME, '#rrggbb ...' or a .hex/.gpl/.pal")
    sheet.add_argument("--duration-ms", type=int, help="each frame's time in the atlas and previews (default 100)")
    sheet.add_argument("--seed", type=int, help="the first column's seed (default: drawn)")
    sheet.add_argument("--seed-step", type=int, help="frame n uses seed + n x STEP (default 1; 0: one seed)")
    sheet.add_argument("--size", type=size, metavar="WxH", help="the generation's size (default 512x512)")
    sheet.add_argument("--steps", type=int)
    sheet.add_argument("--model")
    sheet.add_argument("--negative-prompt")
    sheet.add_argument("--workflow", help="a workflow with sprite steps (default sprite)")
    sheet.add_argument("--group-id", help="the sheet's id (default: a new one); the same id again is the same sheet")
    sheet.add_argument("--retries", type=int, default=2, help="times to send again after a timeout (same group id)")
    sheet.add_argument("--wait", action="store_true", help="follow the frames, then print the sheet's files")
    sheet.add_argument("--wait-timeout", type=float, default=1800.0, help="seconds --wait gives the sheet")
    sheet.add_argument("--out", type=Path, metavar="DIR", help="download the sheet's files here (implies --wait)")
    add_submit_args(sheet)  # --param, --image (a reference image for img2img), --lora
    add_client_args(sheet)
    sheet.set_defaults(run=cmd_sheet)

    reroll = commands.add_parser("reroll", help="make a frame (any ended job) again with a new seed, on the worker")
    reroll.add_argument("job_id")
    reroll.add_argument("--seed", type=int, help="this seed instead of a new random one")
    add_client_args(reroll)
    reroll.set_defaults(run=cmd_reroll)


def cmd_sheet(args: argparse.Namespace) -> int:
    group_id = args.group_id or new_job_id()  # chosen here, so that a retry after a timeout is the same sheet
    fields: dict[str, Any] = {
        "rows": args.row,
        "frames": args.frames,
        "cell": args.cell,
        "palette": args.palette,
        "duration_ms": args.duration_ms,
        "seed": args.seed,
        "seed_step": args.seed_step,
        "size": args.size,
        "steps": args.steps,
        "model": args.model,
        "negative_prompt": args.negative_prompt,
        "workflow": args.workflow,
        **submit_fields(args),
    }
    fields = {key: value for key, value in fields.items() if value is not None}
    wait = args.wait or args.out is not None
    with client_of(args) as client:
        if wait:  # before sending, so that the sheet's end cannot pass unseen
            client.subscribe(f"{TOPIC_GROUP_DONE}{group_id}")
        group = client.sheet(args.prompt, group_id=group_id, retries=args.retries, **fields)
        print(f"sheet {group['group_id']}{' (existing)' if group['existing'] else ''}: {' '.join(group['job_ids'])}")
        if not wait:
            return 0
        files = group.get("sprite_sheet") if group.get("finished") else None
        if files is None:
            from pixflow.cli.progress_view import follow_jobs  # rich: only for --wait

            follow_jobs(client, group["job_ids"], args.wait_timeout)
            files = _wait_for_files(client, group_id)
        if files is None:
            print("sheet: not written (see the worker's log)", file=sys.stderr)
            return 1
        _print_files(files)
        if args.out is not None:
            _download(client, group_id, files, args.out)
        return 0 if not files.get("missing") else 1


def _wait_for_files(client: Client, group_id: str) -> dict[str, Any] | None:
    topic = f"{TOPIC_GROUP_DONE}{group_id}"
    try:
        _, event = client.next_event(SHEET_WAIT, want=lambda name, _: name == topic)
        files = event.get("sprite_sheet")
    except ClientError:  # the end came before we listened: ask
        files = client.call("group", group_id=group_id).get("sprite_sheet")
    return files if isinstance(files, dict) else None


def _print_files(files: dict[str, Any]) -> None:
    print(f"sheet: {files['sheet']}")
    print(f"atlas: {files['atlas']}")
    for row, path in (files.get("previews") or {}).items():
        print(f"preview {row}: {path}")
    for cell in files.get("missing") or []:
        print(f"missing: row {cell['row']} frame {cell['frame']} (job {cell['job_id']}, {cell['state']})")


def _download(client: Client, group_id: str, files: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    wanted: list[tuple[str, dict[str, Any]]] = [("sheet", {}), ("atlas", {})]
    wanted += [("preview", {"row": row}) for row in files.get("previews") or {}]
    for variant, extra in wanted:
        reply = client.fetch_sheet_file(group_id, variant, **extra)
        path = out / str(reply["name"])
        path.write_bytes(reply["image"])
        print(f"downloaded {path}")


def cmd_reroll(args: argparse.Namespace) -> int:
    with client_of(args) as client:
        fields = {"seed": args.seed} if args.seed is not None else {"new_seed": True}
        reply = client.retry(args.job_id, **fields)
    print(f"rerolling {args.job_id} as {reply['job_id']}", file=sys.stderr)
    print(reply["job_id"])
    return 0
