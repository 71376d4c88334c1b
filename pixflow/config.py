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
    labels: tuple[tuple[str, str], ...] = ()  # free-form, e.g. machine: box1, gpu: "0" (shown in status)
    max_inflight: int | None = None  # prompts handed to this ComfyUI at once; None: the global max_inflight

    def inflight_limit(self, default: int) -> int:
        return self.max_inflight if self.max_inflight is not None else default


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
    max_group_jobs: int = 64  # jobs one `compare` request may create (models x seeds)
    # The pool (docs/pool.md).
    failover_after: float = 15.0  # a backend down this long has its unfinished prompts sent to another one
    info_refresh_interval: float = 60.0  # how often each backend's /object_info (models, LoRAs, nodes) is read again
    # Remote clients (docs/security.md).
    curve_secret_key: Path | None = None  # the worker's NAME.key_secret; with curve_clients_dir, turns CURVE on
    curve_clients_dir: Path | None = None  # allowed client keys (NAME.key) and their roles (roles.yaml)
    insecure: bool = False  # allow binding a non-loopback address without CURVE (a warning at every start)
    max_fetch_bytes: int = 8 << 20  # fetch_output/fetch_preview refuse larger images (too_large)
    max_queued_per_owner: int = 0  # queued jobs one key may have; 0: no limit but max_queued
    # Operations (docs/operations.md).
    shutdown_grace: float = 30.0  # seconds SIGTERM waits for prompts already in ComfyUI to finish and be saved
    metrics_addr: str = "127.0.0.1:9464"  # HOST:PORT of the Prometheus endpoint; empty: no metrics endpoint
    log_format: str = "plain"  # plain, or json: one object a line

    @property
    def comfyui_url(self) -> str:
        return self.backends[0].url


_ENV_PREFIX = "PIXFLOW_"
_SETTING_NAMES = frozenset(f.name for f in fields(Settings))


def _coerce(name: str, value: Any) -> Any:
    kinds = {f.name: f.type for f in fields(Settings)}
    if name not in kinds:
        raise ConfigError(f"unknown setting {name!r}; known: {', '.join(sorted(kinds))}")
    if name in ("output_dir", "workflows_dir", "db_path", "curve_secret_key", "curve_clients_dir"):
        return Path(value).expanduser()
    if name == "metrics_addr" and value is None:
        return ""  # `metrics_addr:` left empty in the YAML file: no metrics endpoint
    kind = kinds[name]
    if kind == "bool":
        return _flag(name, value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if name == "backends":
        return _backends(value)
    return str(value)


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"setting {name!r} must be true or false, got {value!r}")


def _backends(value: Any) -> tuple[BackendSettings, ...]:
    if isinstance(value, str):
        return (BackendSettings("local", value),)
    if not isinstance(value, list) or not value:
        raise ConfigError("backends must be a non-empty list of {name, url}")
    backends = tuple(_backend(entry) for entry in value)
    names = [b.name for b in backends]
    if len(set(names)) != len(names):
        raise ConfigError(f"backend names must be unique; got {', '.join(names)}")
    return backends


def _backend(entry: Any) -> BackendSettings:
    if not isinstance(entry, dict) or "name" not in entry or "url" not in entry:
        raise ConfigError(f"each backend needs a name and a url; got {entry!r}")
    unknown = set(entry) - {"name", "url", "labels", "max_inflight"}
    if unknown:
        raise ConfigError(f"backend {entry['name']!r}: unknown keys {sorted(unknown)}; known: labels, max_inflight")
    labels = entry.get("labels") or {}
    if not isinstance(labels, dict):
        raise ConfigError(f"backend {entry['name']!r}: labels must be a mapping, e.g. {{machine: box1, gpu: 0}}")
    limit = entry.get("max_inflight")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ConfigError(f"backend {entry['name']!r}: max_inflight must be a whole number of at least 1")
    pairs = tuple(sorted((str(k), str(v)) for k, v in labels.items()))
    return BackendSettings(str(entry["name"]), str(entry["url"]), pairs, limit)


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
        if "comfyui_url" in document and "backends" in document:
            raise ConfigError(f"{config_file}: give either comfyui_url (one backend) or backends (a pool), not both")
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
