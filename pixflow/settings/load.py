"""Settings: defaults, then a YAML file, then PIXFLOW_* environment variables, then flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

import pixflow.settings.rules as config_rules
from pixflow import resources
from pixflow.errors import ConfigError
from pixflow.protocol import DEFAULT_PUB_ADDR, DEFAULT_REQ_ADDR

DEFAULT_COMFYUI_URL = "http://127.0.0.1:8188"
_WORKFLOWS = resources.workflows_dir()


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
    workflows_dir: Path = _WORKFLOWS  # shipped inside the package (pixflow/resources.py)
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
    # A shared store and coordinators that take over from each other (docs/deploy.md): a postgresql:// URL makes
    # PostgreSQL the store instead of the SQLite file at db_path; several `serve` on one URL: one leads, the others
    # stand by.
    db_url: str = ""
    lease_seconds: float = 10.0  # how long a leader's lease lasts unrenewed (renewed every third of it)
    coordinator_name: str = ""  # this coordinator's name in status, health and the lease; empty: the host name
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
    # Input images sent with `generate` (docs/workflows.md): each at most this many bytes and pixels a side.
    max_image_bytes: int = 8 << 20
    max_image_side: int = 4096
    image_formats: str = "png,jpeg,webp"  # what Pillow calls them, comma-separated
    # Operations (docs/operations.md).
    shutdown_grace: float = 30.0  # seconds SIGTERM waits for prompts already in ComfyUI to finish and be saved
    metrics_addr: str = "127.0.0.1:9464"  # HOST:PORT of the Prometheus endpoint; empty: no metrics endpoint
    log_format: str = "plain"  # plain, or json: one object a line
    # Webhooks (docs/webhooks.md): the hosts a job's webhook may name (none: webhooks refused), the signing secret.
    webhook_hosts: tuple[str, ...] = ()  # host or host:port patterns (fnmatch: *, ?), e.g. hooks.example.com:443
    webhook_secret_file: Path | None = None  # "whsec_" + base64 (Standard Webhooks), or the raw secret
    webhook_default: tuple[str, str] | None = None  # (url, events) for jobs that name no webhook
    # Per client: key name (or a proxy's `key:user` owner) -> (url, events), before webhook_default.
    webhook_client_defaults: dict[str, tuple[str, str]] = field(default_factory=dict)
    webhook_timeout: float = 10.0  # seconds one delivery attempt may take (connecting: at most 5 of them)
    webhook_backoff: float = 1.0  # seconds before the first retry, doubling (with jitter) up to 300
    webhook_retry_for: float = 3600.0  # seconds after its event a delivery is retried before it is given up

    @property
    def comfyui_url(self) -> str:
        return self.backends[0].url


_ENV_PREFIX = "PIXFLOW_"
_SETTING_NAMES = frozenset(f.name for f in fields(Settings))


def _coerce(name: str, value: Any, source: str = "") -> Any:
    if name == "backends":
        return _backends(value, source)
    return config_rules.convert(name, value, source)  # one rule per setting: pixflow/settings/rules.py


def _backends(value: Any, source: str = "") -> tuple[BackendSettings, ...]:
    if isinstance(value, str):
        return (BackendSettings("local", config_rules.http_url("comfyui_url", value, source)),)
    if not isinstance(value, list) or not value:
        raise config_rules.refused("backends", value, "a non-empty list of {name, url}", source)
    backends = tuple(_backend(entry, source) for entry in value)
    names = [b.name for b in backends]
    if len(set(names)) != len(names):
        raise ConfigError(f"backend names must be unique; got {', '.join(names)}")
    return backends


def _backend(entry: Any, source: str = "") -> BackendSettings:
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
    url = config_rules.http_url(f"backends[{entry['name']}].url", entry["url"], source)
    return BackendSettings(str(entry["name"]), url, pairs, limit)


def load_settings(
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    sources: dict[str, str] | None = None,
) -> Settings:
    """Defaults, then the file, then PIXFLOW_* variables, then `overrides` (flags; None: not given).

    Every value is checked (rules.py); the first refused one raises. `sources`, if given, is filled with
    where each setting that is not a default came from: `file PATH`, `environment PIXFLOW_NAME` or `flag`
    (`pixflow config show`)."""
    settings, problems = check_settings(config_file, overrides, environ, sources)
    if problems:
        raise problems[0]
    assert settings is not None
    return settings


def check_settings(
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    sources: dict[str, str] | None = None,
) -> tuple[Settings | None, list[ConfigError]]:
    """As `load_settings`, but every refused value is reported, not only the first (`pixflow config check`):
    the settings (None if any value was refused) and the problems, in the order the keys were given."""
    try:
        values = _raw_values(config_file, overrides, environ)
    except ConfigError as e:
        return None, [e]
    coerced: dict[str, Any] = {}
    problems: list[ConfigError] = []
    for name, (value, source) in values.items():
        try:
            coerced[name] = _coerce(name, value, source)
        except ConfigError as e:
            problems.append(e)
    if sources is not None:
        sources.update((name, source) for name, (_, source) in values.items())
    return (None if problems else replace(Settings(), **coerced)), problems


def _read_file(config_file: Path) -> dict[str, Any]:
    try:
        with config_file.open() as stream:  # a stream, so that YAML's messages name the file, not <unicode string>
            document = yaml.safe_load(stream) or {}
    except OSError as e:
        raise ConfigError(f"cannot read config file {config_file}: {e.strerror or e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {config_file} is not valid YAML: {e}") from e
    if not isinstance(document, dict):
        raise ConfigError(f"{config_file} must hold a mapping of settings")
    if "comfyui_url" in document and "backends" in document:
        raise ConfigError(f"{config_file}: give either comfyui_url (one backend) or backends (a pool), not both")
    if "comfyui_url" in document:
        document["backends"] = document.pop("comfyui_url")
    return document


def _raw_values(
    config_file: Path | None, overrides: dict[str, Any] | None, environ: dict[str, str] | None
) -> dict[str, tuple[Any, str]]:
    """Each setting given, as given, with where it came from; later sources replace earlier ones."""
    values: dict[str, tuple[Any, str]] = {}
    if config_file is not None:
        document = _read_file(config_file)
        values.update((str(key), (value, f"file {config_file}")) for key, value in document.items())
    env = os.environ if environ is None else environ
    for key, value in env.items():
        if key.startswith(_ENV_PREFIX):
            name = key[len(_ENV_PREFIX) :].lower()
            name = "backends" if name == "comfyui_url" else name
            if name in _SETTING_NAMES:  # other PIXFLOW_* variables belong to tools and tests
                values[name] = (value, f"environment {key}")
    for key, value in (overrides or {}).items():
        if value is not None:
            values["backends" if key == "comfyui_url" else key] = (value, "flag")
    return values
