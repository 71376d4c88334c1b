"""One delivery attempt: a POST over libcurl, run by a delivery thread (never the loop). No redirect is followed
(a receiver cannot send the worker to another host), no proxy from the environment is used, only http and https are
spoken, at most `MAX_ANSWER_BYTES` of the answer are kept, and the whole attempt is bounded by its timeout."""

from __future__ import annotations

import os

import pycurl

from pixflow.comfy.transport import CA_BUNDLE_VARIABLES

CONNECT_TIMEOUT = 5.0  # seconds, at most: the rest of `webhook_timeout` is for the answer
MAX_ANSWER_BYTES = 4096


def post(url: str, headers: list[str], body: bytes, timeout: float) -> tuple[int | None, str | None]:
    """(the HTTP status, None), or (None, what went wrong): a refused connection, a timeout, a bad certificate."""
    answer = bytearray()

    def keep(chunk: bytes) -> None:
        if len(answer) < MAX_ANSWER_BYTES:
            answer.extend(chunk[: MAX_ANSWER_BYTES - len(answer)])

    curl = pycurl.Curl()
    try:
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.PROXY, "")
        curl.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        curl.setopt(pycurl.FOLLOWLOCATION, 0)
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, int(min(CONNECT_TIMEOUT, timeout) * 1000))
        curl.setopt(pycurl.TIMEOUT_MS, int(timeout * 1000))
        curl.setopt(pycurl.POST, 1)
        curl.setopt(pycurl.POSTFIELDS, body)
        curl.setopt(pycurl.HTTPHEADER, headers)
        curl.setopt(pycurl.WRITEFUNCTION, keep)
        bundle = next((os.environ[name] for name in CA_BUNDLE_VARIABLES if os.environ.get(name)), None)
        if bundle:
            curl.setopt(pycurl.CAPATH if os.path.isdir(bundle) else pycurl.CAINFO, bundle)
        curl.perform()
        status = int(curl.getinfo(pycurl.RESPONSE_CODE))
    except pycurl.error as e:
        return None, f"{e.args[1] if len(e.args) > 1 else e}"[:500]
    finally:
        curl.close()
    if 200 <= status < 300:
        return status, None
    return status, f"HTTP {status}: {answer.decode('utf-8', 'replace')[:200]}"
