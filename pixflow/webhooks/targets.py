"""A job's `webhook` field checked (invalid_params naming the field): the URL's scheme, its length, its host against
the `webhook_hosts` setting. Pure."""

from __future__ import annotations

import fnmatch
from typing import Any
from urllib.parse import urlsplit

from pixflow.errors import ErrorCode, RequestError

MAX_URL_CHARS = 2048
EVENTS = ("final", "states")  # final: the terminal state only; states: every state change
DEFAULT_PORTS = {"http": 80, "https": 443}


def _invalid(message: str) -> RequestError:
    return RequestError(ErrorCode.INVALID_PARAMS, message)


def host_key(url: str) -> str:
    """`host:port` of a URL (the port its scheme implies when none is written): what patterns and limits see."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allowed(url: str, patterns: tuple[str, ...]) -> bool:
    """A pattern without a port matches the host on any port; `host:port` (the port may be `*`) matches both."""
    key = host_key(url)
    host = key.rpartition(":")[0]
    # Brackets are an IPv6 literal's, never a set of characters.
    return any(fnmatch.fnmatchcase(key if _has_port(p) else host, p.replace("[", "[[]")) for p in patterns)


def _has_port(pattern: str) -> bool:
    return ":" in pattern.rsplit("]", 1)[-1]  # after an IPv6 literal's bracket, if any


def parse_webhook(value: Any, patterns: tuple[str, ...]) -> dict[str, str] | None:
    """`{url, events}` checked, or None when the request names no webhook."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("url"), str):
        raise _invalid("'webhook' must be a map {url: string, events: 'final' or 'states'}")
    unknown = sorted(str(key) for key in value if key not in ("url", "events"))
    if unknown:
        raise _invalid(f"'webhook' has unknown keys {', '.join(unknown)}; it takes url and events")
    url, events = value["url"], value.get("events", "final")
    if events not in EVENTS:
        raise _invalid(f"'webhook.events' must be 'final' or 'states', got {str(events)[:40]!r}")
    if len(url) > MAX_URL_CHARS:
        raise _invalid(f"'webhook.url' is {len(url)} characters; the limit is {MAX_URL_CHARS}")
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is no number, or out of range
    except ValueError:
        raise _invalid(f"'webhook.url' is not a URL: {url[:80]!r}") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise _invalid(f"'webhook.url' must be an http:// or https:// URL with a host, got {url[:80]!r}")
    if parts.username or parts.password:
        raise _invalid("'webhook.url' must not carry credentials: deliveries are signed instead")
    if not patterns:
        raise _invalid("'webhook': this worker sends no webhooks (its setting webhook_hosts allows no host)")
    if not allowed(url, patterns):
        raise _invalid(f"'webhook.url': host {host_key(url)} is not allowed by the worker's webhook_hosts")
    return {"url": url, "events": str(events)}
