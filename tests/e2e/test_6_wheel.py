"""pixflow as a wheel, installed in a fresh virtualenv far from the repository: it finds its workflows and the
demo's recordings inside the package, its worker serves, `health` says so, and the demo runs.

Slow (a venv, a wheel build and installs from PyPI, with constraints.txt): in the e2e tier, which CI runs
(`./dev e2e`). It does not need the tier's ComfyUI; the replay server of the installed wheel stands in for it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from pixflow import __version__
from pixflow.testing import free_tcp, wait_for

REPO = Path(__file__).resolve().parents[2]
# What a build needs, copied (pixflow/_data/ as symlinks, the rest as files): the build leaves no build/ here.
SOURCES = (
    "pyproject.toml",
    "README.md",
    "constraints.txt",
    "pixflow",
    "pixflow_monitor",
    "pixflow_web",
    "workflows",
    "fixtures/comfyui-0.3.75",
)
INSTALL_TIMEOUT = 600.0


def _run(command: list[str], cwd: Path, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("PIXFLOW")
    }
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{result.args}: exit {result.returncode}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )
    return result.stdout


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv with the wheel built from this checkout, and its `replay` extra."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    for name in SOURCES:
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(REPO / name, target, symlinks=name == "pixflow", ignore=ignore)  # _data/: links
        else:
            shutil.copy2(REPO / name, target)
    wheels = root / "wheels"
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)], root, 300))
    (wheel,) = wheels.glob("pixflow-*.whl")
    _ok(_run([sys.executable, "-m", "venv", str(root / "venv")], root))
    pip = [str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _ok(_run([*pip, "-c", str(REPO / "constraints.txt"), f"{wheel}[replay]"], root, INSTALL_TIMEOUT))
    return root / "venv" / "bin"


@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_the_installed_wheel_serves_answers_health_and_runs_the_demo(installed: Path, tmp_path: Path) -> None:
    pixflow = str(installed / "pixflow")
    assert _ok(_run([pixflow, "--version"], tmp_path)).strip() == f"pixflow {__version__}"
    where = _ok(_run([str(installed / "python"), "-c", "import pixflow; print(pixflow.__file__)"], tmp_path))
    # The installed copy in the venv's site-packages, not the checkout's pixflow/ (the venv itself may sit below
    # the checkout, in .cache/, when the tier's temporary folders do).
    assert Path(where.strip()).is_relative_to(installed.parent) and not Path(where.strip()).is_relative_to(
        REPO / "pixflow"
    )

    port = free_tcp().rsplit(":", 1)[1]
    req, pub = free_tcp(), free_tcp()
    config = tmp_path / "pixflow.yaml"
    config.write_text(
        f"comfyui_url: http://127.0.0.1:{port}\nreq_addr: {req}\npub_addr: {pub}\nmetrics_addr:\n"
        f"db_path: {tmp_path / 'jobs.db'}\noutput_dir: {tmp_path / 'out'}\n"
    )
    assert _ok(_run([pixflow, "config", "check", str(config)], tmp_path)).startswith(f"{config}: ok")
    log = (tmp_path / "processes.log").open("w")
    replay = subprocess.Popen([pixflow, "replay", "--port", port, "--speed", "0"], cwd=tmp_path, stdout=log, stderr=log)
    # The stand-in ComfyUI first, as a box starts it, so the worker's first look at it succeeds.
    wait_for(lambda: _answers(f"http://127.0.0.1:{port}/object_info"), timeout=30, what="the replay server")
    serve = subprocess.Popen([pixflow, "serve", "--config", str(config)], cwd=tmp_path, stdout=log, stderr=log)
    try:
        health = [pixflow, "health", "--req-addr", req, "--timeout", "1"]
        wait_for(lambda: _run(health, tmp_path).returncode == 0, timeout=60, what="`pixflow health` to say ok")
        models = [pixflow, "models", "--req-addr", req]  # read from the backend's object_info once it is up
        found = wait_for(lambda: _ok(_run(models, tmp_path)).split(), timeout=30, what="the backend's models")
        assert found == ["tiny-sd15.safetensors"]  # from the recordings shipped in the wheel
    finally:
        for process, stop in ((serve, signal.SIGTERM), (replay, signal.SIGINT)):
            process.send_signal(stop)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        log.close()
    assert serve.returncode == 0, (tmp_path / "processes.log").read_text()[-3000:]

    demo = _ok(_run([pixflow, "demo", "--speed", "0", "--output-dir", str(tmp_path / "demo")], tmp_path, 120))
    assert demo.count("(64x64)") == 3
    assert len(list((tmp_path / "demo").rglob("*.png"))) == 3
