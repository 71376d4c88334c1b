#!/usr/bin/env python3
"""Record every fixture of fixtures/recordings/ again, against a real ComfyUI this script starts.

Needs pixflow's recorder (requests, websocket-client): run it with the repo's venv.

    .venv/bin/python e2e/record_fixtures.py                      # rewrite fixtures/recordings/ in place
    .venv/bin/python e2e/record_fixtures.py --out /tmp/rec --compare   # record elsewhere, then compare
    .venv/bin/python e2e/record_fixtures.py --compare-only /tmp/rec    # compare an earlier recording

The graphs are always read from fixtures/recordings/graphs/. The server is started fresh (empty run
folder .cache/e2e/record-run/, so ComfyUI's file names start at pixflow_00001_.png and nothing is
cached) and the recordings are made in the order of SUITE: the order matters (`txt2img_cached` must
follow `txt2img_fresh`, `txt2img_new_seed` reuses their cache, ...). Everything is recorded into a
staging folder first and moved into --out only if every run ended as expected, so a failed attempt
never leaves half a set of fixtures behind.

--compare checks the new recording against the committed one, ignoring what changes from run to run
by design: timings (`t`, `timestamp`, `create_time`), the uuids (prompt_id, client_id, sid: compared by order of
appearance, also inside preview metadata), the order of lists ComfyUI builds from sets (`executed`,
`current_outputs`), the port and free memory in system_stats. Preview images (by sha256) and PNGs are
compared byte for byte. Exit code 1 if any meaningful difference is left.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

E2E_DIR = Path(__file__).resolve().parent
REPO = E2E_DIR.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from e2e.comfyui_server import DEFAULT_CACHE, ComfyUIServer  # noqa: E402

FIXTURES = REPO / "fixtures" / "recordings"
GRAPHS = FIXTURES / "graphs"
RUN_DIR = DEFAULT_CACHE / "record-run"
# The same rewrites as in fixtures/comfyui-0.3.75/: this machine's paths -> /srv/...
REWRITES = {str(DEFAULT_CACHE / "ComfyUI"): "/srv/ComfyUI", str(RUN_DIR): "/srv/ComfyUI", str(DEFAULT_CACHE): "/srv"}

# (recording, graph, record() options, expected outcome, images in the history entry), in recording order.
SUITE: list[tuple[str, str, dict[str, Any], str, int]] = [
    ("txt2img_fresh", "txt2img", {}, "success", 1),
    ("txt2img_cached", "txt2img", {}, "success", 1),
    ("txt2img_new_seed", "txt2img_new_seed", {}, "success", 1),
    ("txt2img_preview_flags", "txt2img_preview_flags", {"feature_flags": True}, "success", 1),
    ("two_pass", "two_pass", {}, "success", 1),
    ("batch4", "batch4", {}, "success", 4),
    ("runtime_error", "runtime_error", {}, "error", 0),
    ("interrupt", "interrupt", {"interrupt_after_step": 3}, "interrupted", 0),
    ("validation_error", "validation_error", {}, "rejected", 0),
]
SERVER_FILES = ("object_info.json", "system_stats.json")


def say(message: str) -> None:
    print(f"[record_fixtures] {message}", flush=True)


# --- recording --------------------------------------------------------------------------------------


def record_all(staging: Path) -> None:
    """Start a fresh ComfyUI and record SUITE into `staging` (jsonl files, output/, server info)."""
    from pixflow.replay.recorder import record, record_server_info  # needs the venv's requests/websocket-client

    shutil.rmtree(RUN_DIR, ignore_errors=True)
    with ComfyUIServer(run_dir=RUN_DIR) as server:
        say(f"ComfyUI {server.url} ready after {server.last_start_seconds:.1f} s (log {server.log_path})")
        for name, graph, options, outcome, images in SUITE:
            summary = record(
                server.url,
                json.loads((GRAPHS / f"{graph}.json").read_text()),
                staging / f"{name}.jsonl",
                staging / "output",
                path_rewrites=REWRITES,
                **options,
            )
            got = (summary.outcome, len(summary.images))
            say(f"{name}: {summary.outcome}, {summary.lines} lines, {len(summary.images)} images, {summary.seconds} s")
            if got != (outcome, images):
                raise SystemExit(f"{name}: expected {outcome} with {images} images, got {got}; nothing was replaced")
        record_server_info(server.url, staging, path_rewrites=REWRITES)


def install(staging: Path, out: Path) -> None:
    """Replace the recorded files in `out` (graphs/ and anything else there is left alone)."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "output", ignore_errors=True)
    shutil.move(str(staging / "output"), str(out / "output"))
    for name in [f"{name}.jsonl" for name, *_ in SUITE] + list(SERVER_FILES):
        shutil.move(str(staging / name), str(out / name))


# --- comparing --------------------------------------------------------------------------------------

UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b[0-9a-f]{32}\b")
VOLATILE_KEYS = {"t", "timestamp", "create_time"}
UNORDERED_KEYS = {"executed", "current_outputs"}  # ComfyUI builds these lists from sets
VOLATILE_STATS = {"ram_free", "vram_free", "torch_vram_free"}


class Placeholders:
    """Replaces each distinct uuid with <id1>, <id2>, ... in order of first appearance."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def __call__(self, match: re.Match[str]) -> str:
        return self.seen.setdefault(match.group(0), f"<id{len(self.seen) + 1}>")


def _normal(value: Any, ids: Placeholders) -> Any:
    if isinstance(value, dict):
        normal = {}
        for key, item in value.items():
            if key in VOLATILE_KEYS:
                continue
            item = _normal(item, ids)
            normal[UUID.sub(ids, key)] = sorted(item, key=str) if key in UNORDERED_KEYS else item
        return normal
    if isinstance(value, list):
        return [_normal(item, ids) for item in value]
    if isinstance(value, str):
        return UUID.sub(ids, value)
    return value


def _normal_binary(data: dict[str, Any], ids: Placeholders) -> dict[str, Any]:
    """A binary frame as its event type, its metadata (type 4, prompt_id replaced) and the image's sha256."""
    raw = base64.b64decode(data["b64"])
    kind = struct.unpack(">I", raw[:4])[0]
    frame: dict[str, Any] = {"len": data["len"], "event": kind}
    body = raw[4:]
    if kind == 1:  # PREVIEW_IMAGE: u32 format, image
        frame["format"], body = struct.unpack(">I", body[:4])[0], body[4:]
    elif kind == 4:  # PREVIEW_IMAGE_WITH_METADATA: u32 length, JSON metadata, image
        size = struct.unpack(">I", body[:4])[0]
        frame["metadata"] = _normal(json.loads(body[4 : 4 + size]), ids)
        body = body[4 + size :]
    frame["sha256"] = hashlib.sha256(body).hexdigest()
    return frame


def normal_jsonl(path: Path) -> list[Any]:
    ids = Placeholders()
    lines = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if record.get("kind") == "ws_binary":
            lines.append({"kind": "ws_binary", "data": _normal_binary(record["data"], ids)})
        else:
            lines.append(_normal(record, ids))
    return lines


def normal_stats(path: Path) -> Any:
    stats = json.loads(path.read_text())
    argv = stats.get("system", {}).get("argv", [])
    if "--port" in argv:
        argv[argv.index("--port") + 1] = "<port>"
    for device in stats.get("devices", []):
        for key in VOLATILE_STATS & set(device):
            device[key] = "<free>"
    for key in VOLATILE_STATS & set(stats.get("system", {})):
        stats["system"][key] = "<free>"
    return stats


def first_difference(old: Any, new: Any, where: str = "") -> str | None:
    if type(old) is not type(new):
        return f"{where or 'top'}: {_short(old)} != {_short(new)}"
    if isinstance(old, dict):
        for key in sorted(set(old) | set(new), key=str):
            if key not in old or key not in new:
                return f"{where}.{key}: only in the {'new' if key not in old else 'committed'} one"
            found = first_difference(old[key], new[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(old, list):
        for index, (a, b) in enumerate(zip(old, new, strict=False)):
            found = first_difference(a, b, f"{where}[{index}]")
            if found:
                return found
        return None if len(old) == len(new) else f"{where}: {len(old)} items committed, {len(new)} new"
    return None if old == new else f"{where}: {_short(old)} != {_short(new)}"


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) < 160 else text[:157] + "..."


def compare(committed: Path, new: Path) -> int:
    """Print one line per recorded file; return the number of files whose meaningful content differs."""
    differing = 0
    checks: list[tuple[str, Any, Any]] = []
    for name, *_ in SUITE:
        checks.append((f"{name}.jsonl", normal_jsonl(committed / f"{name}.jsonl"), normal_jsonl(new / f"{name}.jsonl")))
    checks.append(("system_stats.json", normal_stats(committed / "system_stats.json"),
                   normal_stats(new / "system_stats.json")))  # fmt: skip
    checks.append(("object_info.json", json.loads((committed / "object_info.json").read_text()),
                   json.loads((new / "object_info.json").read_text())))  # fmt: skip
    for name, old, new_value in checks:
        found = first_difference(old, new_value)
        differing += found is not None
        say(f"{name:30} {'same' if found is None else 'DIFFERS ' + found}")
    old_images = sorted(p.name for p in (committed / "output").glob("*.png"))
    new_images = sorted(p.name for p in (new / "output").glob("*.png"))
    if old_images != new_images:
        differing += 1
        say(f"{'output/':30} DIFFERS: committed {old_images}, new {new_images}")
    for image in old_images if old_images == new_images else []:
        same = (committed / "output" / image).read_bytes() == (new / "output" / image).read_bytes()
        differing += not same
        say(f"{'output/' + image:30} {'same bytes' if same else 'DIFFERS (bytes)'}")
    return differing


# --- command line -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record fixtures/recordings/ again against a real ComfyUI.")
    parser.add_argument("--out", type=Path, default=FIXTURES, help=f"where to write (default: {FIXTURES})")
    parser.add_argument("--compare", action="store_true", help=f"then compare with the committed {FIXTURES}")
    parser.add_argument("--compare-only", type=Path, metavar="DIR", help="only compare DIR with the committed set")
    parser.add_argument("--skip-setup", action="store_true", help="do not run e2e/setup_comfyui.py first")
    args = parser.parse_args(argv)
    if args.compare_only is not None:
        return 1 if compare(FIXTURES, args.compare_only) else 0
    out = args.out.resolve()
    if args.compare and out == FIXTURES.resolve():
        parser.error("--compare needs --out elsewhere than the committed fixtures")
    started = time.monotonic()
    if not args.skip_setup:
        subprocess.run([sys.executable, str(E2E_DIR / "setup_comfyui.py")], cwd=REPO, check=True, timeout=1800)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".recording-", dir=out.parent) as staging:
        record_all(Path(staging))
        install(Path(staging), out)
    say(f"recorded {len(SUITE)} runs into {out} in {time.monotonic() - started:.1f} s")
    if args.compare:
        differing = compare(FIXTURES, out)
        say("meaningful content: " + ("identical" if not differing else f"{differing} files differ"))
        return 1 if differing else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
