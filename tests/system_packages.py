"""Debian packages some tests run for real (Prometheus, systemd-analyze): installed here when missing, so a
fresh machine needs nothing by hand. Needs root (CI and the dev machines are root) and Debian's apt."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

APT_TIMEOUT = 600  # seconds for `apt-get update` plus the install (about 30 s on a warm mirror)
_updated = False


def ensure(binary: str, package: str) -> str:
    """The path of `binary`, apt-installing `package` first if it is not on the PATH."""
    global _updated
    found = shutil.which(binary)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(f"{binary} is missing and cannot be installed here (needs root and apt-get): apt install {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _updated:
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, timeout=APT_TIMEOUT, capture_output=True)
        _updated = True
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    result = subprocess.run(install, env=env, timeout=APT_TIMEOUT, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"apt-get install {package} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    found = shutil.which(binary)
    assert found, f"{package} is installed but {binary} is not on the PATH"
    return found
