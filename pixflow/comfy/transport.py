"""How a backend reaches its ComfyUI, decided once when the backend is built: one HTTP stack (libcurl) for every
call, whatever the URL, and the TLS settings its WebSocket shares.

libcurl does https, proxies, `.netrc` and user:password in the URL itself; what pixflow reads from the environment
is read here, once, as the requests-based code it replaces read it (docs/architecture.md, "One transport"):

- the CA bundle: REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, else SSL_CERT_FILE (a file, or a folder of hashed
  certificates); none set: libcurl's and OpenSSL's defaults.
- the proxy: http_proxy / https_proxy / all_proxy and no_proxy, lower case first, upper case too (HTTP_PROXY as
  well: libcurl alone ignores it, requests honoured it, and users of the old code may rely on it). Resolved here
  and set on every handle, so libcurl never guesses another.
- `.netrc`: the file NETRC names, else ~/.netrc; optional (a missing file or entry is no error).
"""

from __future__ import annotations

import io
import mimetypes
import os
import ssl
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import pycurl

CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


@dataclass(frozen=True)
class Upload:
    """A multipart POST: text fields, and one file sent from memory."""

    fields: tuple[tuple[str, str], ...]
    file_field: str
    filename: str
    data: bytes


@dataclass(frozen=True)
class Transport:
    timeout: float
    proxy: str = ""  # "" : straight to the server
    ca_bundle: str | None = None  # a file or a folder; None: the library's default
    netrc_file: str | None = None  # None: ~/.netrc

    @classmethod
    def for_url(cls, base_url: str, timeout: float, environ: Mapping[str, str] | None = None) -> Transport:
        environ = os.environ if environ is None else environ
        bundle = next((environ[name] for name in CA_BUNDLE_VARIABLES if environ.get(name)), None)
        return cls(timeout, _proxy_for(base_url, environ), bundle, environ.get("NETRC") or None)

    def handle(self) -> pycurl.Curl:
        """A libcurl handle with pixflow's timeouts, this backend's proxy, CA bundle and .netrc."""
        curl = pycurl.Curl()
        curl.setopt(pycurl.NOSIGNAL, 1)  # timeouts without SIGALRM: safe off the main thread
        curl.setopt(pycurl.PROXY, self.proxy)  # decided once (above): libcurl must not read the environment again
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, int(self.timeout * 1000))
        # As a read timeout: a transfer that moves nothing for `timeout` seconds fails (a long download does not).
        curl.setopt(pycurl.LOW_SPEED_LIMIT, 1)
        curl.setopt(pycurl.LOW_SPEED_TIME, max(1, round(self.timeout)))
        curl.setopt(pycurl.NETRC, pycurl.NETRC_OPTIONAL)  # user:password in the URL wins over .netrc
        if self.netrc_file is not None:
            curl.setopt(pycurl.NETRC_FILE, self.netrc_file)
        if self.ca_bundle is not None:
            curl.setopt(pycurl.CAPATH if os.path.isdir(self.ca_bundle) else pycurl.CAINFO, self.ca_bundle)
        return curl

    def ssl_context(self) -> ssl.SSLContext:
        """For wss://: the same CA bundle as the HTTP calls."""
        if self.ca_bundle is not None and os.path.isdir(self.ca_bundle):
            return ssl.create_default_context(capath=self.ca_bundle)
        return ssl.create_default_context(cafile=self.ca_bundle)


def prepare(curl: pycurl.Curl, url: str, body: bytes | None, sink: io.BytesIO) -> None:
    """Set a handle up for GET url, or for POST body to it as JSON; the answer's body goes to sink."""
    curl.setopt(pycurl.URL, url)
    curl.setopt(pycurl.WRITEDATA, sink)
    if body is None:
        curl.setopt(pycurl.HTTPGET, 1)
        curl.setopt(pycurl.HTTPHEADER, [])
    else:
        curl.setopt(pycurl.POSTFIELDS, body)
        curl.setopt(pycurl.HTTPHEADER, ["Content-Type: application/json", "Expect:"])


def prepare_upload(curl: pycurl.Curl, url: str, upload: Upload, sink: io.BytesIO) -> None:
    """Set a fresh handle up for a multipart POST (a handle used for one is not reused: its form stays set)."""
    curl.setopt(pycurl.URL, url)
    curl.setopt(pycurl.WRITEDATA, sink)
    curl.setopt(pycurl.HTTPHEADER, ["Expect:"])  # no 100-continue round trip before the bytes
    form = pycurl.CurlMime(curl)
    for name, value in upload.fields:
        part = form.addpart()
        part.name(name)
        part.data(value)
    part = form.addpart()
    part.name(upload.file_field)
    part.filename(upload.filename)
    # The type requests (urllib3) gave a file part: guessed from its name.
    part.type(mimetypes.guess_type(upload.filename)[0] or "application/octet-stream")
    part.data(upload.data)
    curl.setopt(pycurl.MIMEPOST, form)


def curl_reason(error: pycurl.error) -> str:
    """libcurl's own words for a failed exchange ("Failed to connect to ... Connection refused")."""
    return str(error.args[1]) if len(error.args) > 1 else str(error)


def _proxy_for(base_url: str, environ: Mapping[str, str]) -> str:
    """The proxy the environment names for this server, as requests chose it: scheme first, then all_proxy."""
    proxies: dict[str, str] = {}
    for name, value in environ.items():  # lower case wins over upper case, as urllib and requests have it
        key = name.lower()
        if value and key.endswith("_proxy") and (name.islower() or key not in proxies):
            proxies[key[: -len("_proxy")]] = value
    parts = urlsplit(base_url)
    bypass: Callable[[str, dict[str, str]], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if parts.hostname is None or bypass(parts.hostname, proxies):
        return ""
    return proxies.get(parts.scheme) or proxies.get("all") or ""
