"""The ComfyUIServer class: one real ComfyUI 0.3.75 process (prepared by e2e/setup_comfyui.py) on loopback.

Stdlib only. Import it through e2e.comfyui_server, the stable path the tests and scripts use; the command
line lives in e2e/comfyui_server_cli.py.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from e2e.comfyui_pins import CHECKPOINT_NAME

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parent
DEFAULT_CACHE = REPO_ROOT / ".cache" / "e2e"
HOST = "127.0.0.1"

# Named after the public module, not this one, so log filters and levels set for it keep working.
log = logging.getLogger("e2e.comfyui_server")


class ComfyUIServerError(RuntimeError):
    """ComfyUI did not start, or is not set up."""


def free_port(host: str = HOST) -> int:
    """A TCP port that nothing listens on right now (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when a server could listen on host:port now (SO_REUSEADDR, as aiohttp uses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


class ComfyUIServer:
    """One ComfyUI process on loopback, with its own input/output/temp/user folders and log file.

    The port is chosen once (given or free) and kept across stop()/kill()/start()/restart(), so a
    client can reconnect to the same url after a restart. Output files also survive restarts
    (ComfyUI's in-memory history and queue do not).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        cache_dir: Path = DEFAULT_CACHE,
        run_dir: Path | None = None,
        log_path: Path | None = None,
        preview_method: str = "latent2rgb",
        extra_args: Sequence[str] = (),
        extra_checkpoints: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        start_timeout: float = 120.0,
        stop_timeout: float = 15.0,
    ) -> None:
        """
        port: loopback port, or None for a free one.
        cache_dir: where setup_comfyui.py put ComfyUI/ and venv/.
        run_dir: holds output/, temp/, input/, user/ (and the log); default cache_dir/"run".
        log_path: ComfyUI's stdout+stderr, appended to across restarts; default run_dir/"comfyui.log".
        preview_method: --preview-method (none, auto, latent2rgb, taesd).
        extra_args: more arguments for main.py.
        extra_checkpoints: more names for the tiny checkpoint (e.g. "tiny-sd15-b.safetensors") that only this
            ComfyUI lists, besides the shared tiny-sd15.safetensors: links in run_dir/models/checkpoints,
            added with --extra-model-paths-config. Two servers with different names make a pool whose
            checkpoint sets differ.
        env: more environment variables for ComfyUI, e.g. {"OMP_NUM_THREADS": "1"} for each of two servers
            sharing a small machine (torch takes every core by default).
        start_timeout: seconds to wait for GET /system_stats to answer.
        stop_timeout: seconds between SIGTERM and SIGKILL in stop().
        """
        self.cache_dir = Path(cache_dir).resolve()
        self.comfyui_dir = self.cache_dir / "ComfyUI"
        self.python = self.cache_dir / "venv" / "bin" / "python"
        self.run_dir = Path(run_dir).resolve() if run_dir is not None else self.cache_dir / "run"
        self.log_path = Path(log_path).resolve() if log_path is not None else self.run_dir / "comfyui.log"
        self.port = port if port is not None else free_port()
        self.preview_method = preview_method
        self.extra_args = list(extra_args)
        self.extra_checkpoints = list(extra_checkpoints)
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.last_start_seconds: float | None = None

    # --- paths and state --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws"

    @property
    def output_dir(self) -> Path:
        return self.run_dir / "output"

    @property
    def input_dir(self) -> Path:
        return self.run_dir / "input"

    @property
    def temp_dir(self) -> Path:
        return self.run_dir / "temp"

    @property
    def user_dir(self) -> Path:
        return self.run_dir / "user"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def checkpoints_dir(self) -> Path:
        """The folder of this server's own checkpoints (extra_checkpoints); the shared one is ComfyUI's."""
        return self.run_dir / "models" / "checkpoints"

    @property
    def extra_model_paths(self) -> Path:
        return self.run_dir / "extra_model_paths.yaml"

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def command(self) -> list[str]:
        return [
            str(self.python), "main.py",
            "--cpu",
            "--listen", HOST,
            "--port", str(self.port),
            "--disable-auto-launch",
            "--preview-method", self.preview_method,
            "--output-directory", str(self.output_dir),
            "--input-directory", str(self.input_dir),
            "--temp-directory", str(self.temp_dir),
            "--user-directory", str(self.user_dir),
            "--database-url", f"sqlite:///{self.user_dir / 'comfyui.db'}",
            *(["--extra-model-paths-config", str(self.extra_model_paths)] if self.extra_checkpoints else []),
            *self.extra_args,
        ]  # fmt: skip

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> ComfyUIServer:
        """Start ComfyUI and wait until GET /system_stats answers; raise with the log tail if not."""
        if self.is_running():
            return self
        self._check_setup()
        if not port_is_free(self.port):
            # Else a server already on that port could answer /system_stats in place of ours.
            raise ComfyUIServerError(f"port {self.port} on {HOST} is in use")
        for folder in (self.output_dir, self.input_dir, self.temp_dir, self.user_dir, self.log_path.parent):
            folder.mkdir(parents=True, exist_ok=True)
        self._link_extra_checkpoints()
        started = time.monotonic()
        with self.log_path.open("ab") as log_file:
            log_file.write(f"\n===== {time.strftime('%H:%M:%S')} starting: {' '.join(self.command())}\n".encode())
            log_file.flush()
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.comfyui_dir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=self._env(),
                start_new_session=True,  # its own process group: kill() reaches everything it spawned
            )
        log.info("ComfyUI pid %s starting on %s (log %s)", self.process.pid, self.url, self.log_path)
        try:
            self.wait_ready(self.start_timeout)
        except BaseException:
            self.stop()
            raise
        self.last_start_seconds = time.monotonic() - started
        log.info("ComfyUI ready on %s after %.1f s", self.url, self.last_start_seconds)
        return self

    def wait_ready(self, timeout: float) -> dict:
        """Poll GET /system_stats until it answers 200 with JSON; return that JSON."""
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if not self.is_running():
                code = self.process.returncode if self.process is not None else None
                raise ComfyUIServerError(
                    f"ComfyUI exited with code {code} before answering; log tail:\n{self.log_tail()}"
                )
            try:
                return self.system_stats(timeout=2.0)
            except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
                last_error = str(exc)
            time.sleep(0.25)
        raise ComfyUIServerError(
            f"ComfyUI did not answer GET /system_stats on {self.url} within {timeout:.0f} s "
            f"({last_error}); log tail:\n{self.log_tail()}"
        )

    def system_stats(self, timeout: float = 5.0) -> dict:
        with urllib.request.urlopen(f"{self.url}/system_stats", timeout=timeout) as reply:
            return json.loads(reply.read())

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` (default stop_timeout) seconds; return the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                log.warning("ComfyUI pid %s ignored SIGTERM; killing it", self.process.pid)
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=30)
        code = self.process.returncode
        log.info("ComfyUI pid %s stopped (exit code %s)", self.process.pid, code)
        return code

    def kill(self) -> int | None:
        """SIGKILL the whole process group at once (a crash: no cleanup, no reply to anyone)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self._signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        log.info("ComfyUI pid %s killed (exit code %s)", self.process.pid, self.process.returncode)
        return self.process.returncode

    def restart(self) -> ComfyUIServer:
        """stop() then start() on the same port with the same folders."""
        self.stop()
        self.process = None
        return self.start()

    def __enter__(self) -> ComfyUIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- helpers ------------------------------------------------------------------------------

    def _check_setup(self) -> None:
        missing = [p for p in (self.python, self.comfyui_dir / "main.py") if not p.exists()]
        if missing:
            raise ComfyUIServerError(
                f"missing {', '.join(map(str, missing))}: run `python3 e2e/setup_comfyui.py` first"
            )

    def _link_extra_checkpoints(self) -> None:
        """Link the tiny checkpoint under each extra name, and write the model paths file naming that folder.

        A hard link costs no space and keeps working if the folder moves; a symlink is the fallback when
        run_dir is on another file system. ComfyUI adds the folder after its own models/checkpoints, so it
        lists the shared checkpoint and these names.
        """
        if not self.extra_checkpoints:
            return
        source = self.comfyui_dir / "models" / "checkpoints" / CHECKPOINT_NAME
        if not source.is_file():
            raise ComfyUIServerError(f"missing {source}: run `python3 e2e/setup_comfyui.py` first")
        self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        for name in self.extra_checkpoints:
            if name == CHECKPOINT_NAME or "/" in name or not name.endswith(".safetensors"):
                raise ComfyUIServerError(f"extra checkpoint {name!r}: a new *.safetensors file name is needed")
            target = self.checkpoints_dir / name
            if target.exists():  # linked by an earlier start() of this server
                continue
            try:
                os.link(source, target)
            except OSError:
                target.symlink_to(source)
        # JSON is YAML; an absolute path, so ComfyUI's working folder does not matter.
        config = {"pixflow_e2e": {"checkpoints": str(self.checkpoints_dir)}}
        self.extra_model_paths.write_text(json.dumps(config, indent=1) + "\n")

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env["PYTHONUNBUFFERED"] = "1"
        env["HF_HUB_OFFLINE"] = "1"  # nothing may try to download a model
        env["CUDA_VISIBLE_DEVICES"] = ""  # --cpu anyway; keeps torch from probing a GPU
        env.update(self.env)
        return env

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
