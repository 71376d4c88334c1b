"""The plumbing of e2e/setup_comfyui.py: logging, subprocesses with timeouts, hashes and step markers.

Stdlib only, like setup_comfyui.py itself: it runs under the system python3 before any venv exists.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path


class SetupError(RuntimeError):
    pass


def say(message: str) -> None:
    print(f"[setup_comfyui] {message}", flush=True)


def run(cmd: list[str | Path], timeout: float, cwd: Path | None = None) -> None:
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
