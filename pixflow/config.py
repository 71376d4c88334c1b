"""Settings: defaults, then a YAML file, then PIXFLOW_* environment variables, then flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from pixflow.errors import ConfigError
from pixflow.protocol import DEFAULT_PUB_ADDR, DEFAULT_REQ_ADDR

DEFAULT_COMFYUI_URL = "http://127.0.0.1:8188"


@dataclass(frozen=True)
class BackendSettings:
    name: str
    url: str


@dataclass(frozen=True)
class Settings:
    req_addr: str = DEFAULT_REQ_ADDR
    pub_addr: str = DEFAULT_PUB_ADDR
    output_dir: Path = Path("output")
    workflows_dir: Path = Path(__file__).resolve().parent.parent / "workflows"
    default_workflow: str = "txt2img"
    backends: tuple[BackendSettings, ...] = (BackendSettings("local", DEFAULT_COMFYUI_URL),)
    # Prompts handed to one ComfyUI at once: one running plus the next one waiting in its queue,
    # so the GPU never idles between jobs.
    max_inflight: int = 2
    http_timeout: float = 10.0
    max_finished_jobs: int = 1_000  # finished jobs kept in memory (older ones are read from the store)
    fetch_workers: int = 3  # parallel image downloads per backend
    stats_interval: float = 1.0  # also how often batched progress is written to the store
    log_level: str = "INFO"
    # Durability (docs/durability.md).
    db_path: Path = Path("pixflow.db")
    db_synchronous: str = "NORMAL"  # NORMAL survives process crashes; FULL also power loss, at a cost
    max_queued: int = 10_000  # jobs waiting in pixflow's queue before `generate` answers queue_full
    max_attempts: int = 3  # POST /prompt attempts for a job whose prompt ComfyUI lost
    retention_hours: float = 24 * 7  # finished jobs are forgotten after this (their files stay)
    cancel_timeout: float = 5.0  # seconds to wait for ComfyUI to confirm an interrupt before interrupting outright
    reconcile_interval: float = 0.5  # how often to ask ComfyUI about a prompt whose events we cannot receive
    stall_timeout: float = 30.0  # a backend with prompts and no event for this long is asked where they are
    ws_ping_interval: float = 5.0  # a WebSocket silent this long is pinged ...
    pub_hwm: int = 10_000  # events queued per subscriber before the transport drops that subscriber's newest
    ws_ping_timeout: float = 5.0  # ... and reconnected if the ping is not answered in this time

    @property
    def comfyui_url(self) -> str:
        return self.backends[0].url


_ENV_PREFIX = "PIXFLOW_"
_SETTING_NAMES = frozenset(f.name for f in fields(Settings))


def _coerce(name: str, value: Any) -> Any:
    kinds = {f.name: f.type for f in fields(Settings)}
    if name not in kinds:
        raise ConfigError(f"unknown setting {name!r}; known: {', '.join(sorted(kinds))}")
    if name in ("output_dir", "workflows_dir", "db_path"):
        return Path(value).expanduser()
    kind = kinds[name]
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if name == "backends":
        return _backends(value)
    return str(value)


def _backends(value: Any) -> tuple[BackendSettings, ...]:
    if isinstance(value, str):
        return (BackendSettings("local", value),)
    if not isinstance(value, list) or not value:
        raise ConfigError("backends must be a non-empty list of {name, url}")
    try:
        return tuple(BackendSettings(str(b["name"]), str(b["url"])) for b in value)
    except (KeyError, TypeError) as e:
        raise ConfigError(f"each backend needs a name and a url: {e}") from e


def load_settings(
    config_file: Path | None = None, overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            document = yaml.safe_load(config_file.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"cannot read config file {config_file}: {e}") from e
        if not isinstance(document, dict):
            raise ConfigError(f"{config_file} must hold a mapping of settings")
        if "comfyui_url" in document:
            document["backends"] = document.pop("comfyui_url")
        values.update(document)
    env = os.environ if environ is None else environ
    for key, value in env.items():
        if key.startswith(_ENV_PREFIX):
            name = key[len(_ENV_PREFIX) :].lower()
            name = "backends" if name == "comfyui_url" else name
            if name in _SETTING_NAMES:  # other PIXFLOW_* variables belong to tools and tests
                values[name] = value
    for key, value in (overrides or {}).items():
        if value is not None:
            values["backends" if key == "comfyui_url" else key] = value
    coerced = {}
    for name, value in values.items():
        try:
            coerced[name] = _coerce(name, value)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"setting {name!r}: {value!r} is not valid ({e})") from e
    return replace(Settings(), **coerced)
