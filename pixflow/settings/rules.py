"""What each setting may be: one rule per setting, applied when settings are loaded (pixflow/config.py).

A rule turns a raw value (from YAML, a PIXFLOW_* string or a flag) into the setting's type, or refuses it with a
SettingError that names the key, the value, where it came from and what is allowed. A key that is no setting is
refused with the closest known name. `max_inflight: 0` used to load and stop all dispatch without a word.

Hand-written and table-driven rather than pydantic-settings: the rules are a page, `Settings` stays the frozen
dataclass the worker, SIGHUP's reload and the tests build with `replace`, and the quick commands (`status`,
`health`) do not pay for importing pydantic.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pixflow.errors import SettingError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("plain", "json")
SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
# zmq endpoints the worker binds: tcp://HOST:PORT (PORT may be * for any free one), ipc://PATH, inproc://NAME.
_ZMQ_ADDR = re.compile(r"^(tcp://(\[[0-9a-fA-F:.]+\]|[^:/\s]+):(\*|\d{1,5})|ipc://\S+|inproc://\S+)$")


@dataclass(frozen=True)
class Rule:
    allowed: str  # said in the message when a value is refused
    convert: Callable[[Any], Any]  # raises ValueError or TypeError for a value that is not allowed


def _whole(value: Any) -> int:
    if isinstance(value, bool):  # YAML's `yes` is not 1
        raise TypeError("a flag")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value.strip())
    raise TypeError(type(value).__name__)


def integer(minimum: int) -> Rule:
    def convert(value: Any) -> int:
        number = _whole(value)
        if number < minimum:
            raise ValueError("too small")
        return number

    return Rule(f"a whole number of at least {minimum}", convert)


def seconds(minimum: float = 0.0, inclusive: bool = False) -> Rule:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError(type(value).__name__)
        number = float(value)
        if math.isnan(number) or math.isinf(number) or number < minimum or (number == minimum and not inclusive):
            raise ValueError("out of range")
        return number

    bound = f"at least {minimum:g}" if inclusive else f"more than {minimum:g}"
    return Rule(f"a number of seconds {bound}", convert)


def choice(options: Iterable[str], upper: bool = False) -> Rule:
    names = tuple(options)

    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(type(value).__name__)
        text = value.strip().upper() if upper else value.strip()
        if text not in names:
            raise ValueError("not a choice")
        return text

    return Rule(f"one of {', '.join(names)}" + (" (any case)" if upper else ""), convert)


def text() -> Rule:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("empty")
        return value.strip()

    return Rule("a non-empty name", convert)


def path(optional: bool = False) -> Rule:
    def convert(value: Any) -> Path | None:
        if value is None and optional:
            return None
        if not isinstance(value, str | Path) or not str(value).strip():
            raise ValueError("not a path")
        return Path(value).expanduser()

    return Rule("a file path" + (" or nothing" if optional else ""), convert)


def database_url() -> Rule:
    """Empty (the SQLite file at db_path), or a PostgreSQL URL as libpq takes it."""

    def convert(value: Any) -> str:
        if value is None or value == "":
            return ""
        if not isinstance(value, str) or not value.strip().startswith(("postgresql://", "postgres://")):
            raise ValueError("not a PostgreSQL URL")
        return value.strip()

    return Rule("a postgresql:// URL (e.g. postgresql://pixflow@db.example/pixflow), or empty for SQLite", convert)


def optional_name() -> Rule:
    def convert(value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._-]{0,64}", value.strip()):
            raise ValueError("not a name")
        return value.strip()

    return Rule("a name of letters, digits, '.', '_' or '-' (at most 64), or empty for the host name", convert)


def flag() -> Rule:
    def convert(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off", ""):
            return False
        raise ValueError("not a flag")

    return Rule("true or false", convert)


def zmq_address() -> Rule:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or not _ZMQ_ADDR.match(value.strip()):
            raise ValueError("not an endpoint")
        port = value.strip().rpartition(":")[2]
        if port.isdigit() and int(port) > 65535:
            raise ValueError("port out of range")
        return value.strip()

    return Rule("a ZeroMQ endpoint: tcp://HOST:PORT (PORT may be *), ipc://PATH or inproc://NAME", convert)


def host_port() -> Rule:
    def convert(value: Any) -> str:
        if value is None or value == "":
            return ""  # left empty: no metrics endpoint
        host, sep, port = str(value).strip().rpartition(":")
        if not isinstance(value, str) or not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError("not HOST:PORT")
        return value.strip()

    return Rule("HOST:PORT (e.g. 127.0.0.1:9464), or empty for none", convert)


def http_url(key: str, value: Any, source: str = "") -> str:
    """A ComfyUI's address: http(s)://HOST[:PORT][/path]."""
    allowed = "an http:// or https:// URL with a host, e.g. http://127.0.0.1:8188"
    try:
        parts = urlsplit(value.strip()) if isinstance(value, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not a URL")
        _ = parts.port  # raises ValueError for a port that is no number or out of range
    except ValueError:
        raise refused(key, value, allowed, source) from None
    return str(value)


_HOST_PATTERN = re.compile(r"^(\[[0-9a-fA-F:.*?]+\]|[A-Za-z0-9_.*?-]+)(:(\*|\d{1,5}))?$")


def host_patterns() -> Rule:
    def convert(value: Any) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise TypeError(type(value).__name__)
        patterns = tuple(str(item).strip().lower() for item in items if str(item).strip())
        if not all(isinstance(item, str) and _HOST_PATTERN.match(item) for item in patterns):
            raise ValueError("not a host pattern")
        return patterns

    return Rule("a list of host or host:port patterns (* and ? match), e.g. [hooks.example.com, 127.0.0.1:*]", convert)


def webhook_target() -> Rule:
    def convert(value: Any) -> tuple[str, str] | None:
        if value is None or value == "":
            return None
        if isinstance(value, str):  # PIXFLOW_WEBHOOK_DEFAULT: URL, or URL,states
            url, _, events = value.strip().partition(",")
            value = {"url": url.strip(), "events": events.strip() or "final"}
        if not isinstance(value, dict) or set(value) - {"url", "events"} or "url" not in value:
            raise ValueError("not a target")
        events = value.get("events", "final")
        if events not in ("final", "states"):
            raise ValueError("events")
        parts = urlsplit(str(value["url"]))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not a URL")
        return (str(value["url"]), str(events))

    return Rule("{url: http(s)://..., events: final or states}, or empty for none", convert)


def webhook_targets() -> Rule:
    """A map of client names to webhook targets (each as webhook_default takes one)."""
    one = webhook_target()

    def convert(value: Any) -> dict[str, tuple[str, str]]:
        if value is None or value == "":
            return {}
        if not isinstance(value, dict) or not all(isinstance(name, str) and name for name in value):
            raise ValueError("not a map")
        targets = {name: one.convert(target) for name, target in value.items()}
        return {name: target for name, target in targets.items() if target is not None}

    return Rule("{client key name: {url: http(s)://..., events: final or states}}", convert)


RULES: dict[str, Rule] = {
    "req_addr": zmq_address(),
    "pub_addr": zmq_address(),
    "output_dir": path(),
    "workflows_dir": path(),
    "default_workflow": text(),
    "max_inflight": integer(1),  # 0 would hand nothing to any backend, ever
    "http_timeout": seconds(),
    "max_finished_jobs": integer(1),
    "fetch_workers": integer(1),
    "stats_interval": seconds(),
    "log_level": choice(LOG_LEVELS, upper=True),
    "db_path": path(),
    "db_synchronous": choice(SQLITE_SYNCHRONOUS, upper=True),
    "db_url": database_url(),
    "lease_seconds": seconds(0.5, inclusive=True),
    "coordinator_name": optional_name(),
    "max_queued": integer(1),
    "max_attempts": integer(1),
    "retention_hours": seconds(),  # hours, but the same rule: a number above 0
    "cancel_timeout": seconds(),
    "reconcile_interval": seconds(),
    "stall_timeout": seconds(),
    "ws_ping_interval": seconds(),
    "pub_hwm": integer(0),  # 0: ZeroMQ's "no limit"
    "ws_ping_timeout": seconds(),
    "max_group_jobs": integer(1),
    "failover_after": seconds(inclusive=True),  # 0: move a down backend's prompts at once
    "info_refresh_interval": seconds(),
    "curve_secret_key": path(optional=True),
    "curve_clients_dir": path(optional=True),
    "insecure": flag(),
    "max_fetch_bytes": integer(1),
    "max_queued_per_owner": integer(0),  # 0: no limit but max_queued
    "max_image_bytes": integer(1),  # input images of generate (docs/workflows.md)
    "max_image_side": integer(1),
    "image_formats": text(),  # comma-separated, as Pillow names them: png,jpeg,webp
    "shutdown_grace": seconds(inclusive=True),  # 0: stop without waiting for ComfyUI
    "metrics_addr": host_port(),
    "log_format": choice(LOG_FORMATS),
    "webhook_hosts": host_patterns(),
    "webhook_secret_file": path(optional=True),
    "webhook_default": webhook_target(),
    "webhook_client_defaults": webhook_targets(),
    "webhook_timeout": seconds(),
    "webhook_backoff": seconds(),
    "webhook_retry_for": seconds(),
}
# `backends` (and `comfyui_url`, its one-backend form) are checked by config.py, entry by entry.
STRUCTURED = ("backends",)


def refused(key: str, value: Any, allowed: str, source: str = "") -> SettingError:
    where = f" (from {source})" if source else ""
    return SettingError(f"setting {key!r}: {value!r}{where} is not allowed; it must be {allowed}", key)


def unknown(key: str, known: Iterable[str], source: str = "") -> SettingError:
    names = sorted(known)
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(names)}"
    where = f" (in {source})" if source else ""
    return SettingError(f"unknown setting {key!r}{where}; {hint}", key, code="unknown_setting")


def convert(key: str, value: Any, source: str = "") -> Any:
    """The value of setting `key` in its type; SettingError if `key` has no rule or the value is not allowed."""
    rule = RULES.get(key)
    if rule is None:
        raise unknown(key, [*RULES, *STRUCTURED, "comfyui_url"], source)
    try:
        return rule.convert(value)
    except (TypeError, ValueError):
        raise refused(key, value, rule.allowed, source) from None
