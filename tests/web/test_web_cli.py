"""`pixflow web` as a command: it serves, it refuses a non-loopback address without tokens (exit 2), it names the
extra when aiohttp is missing, and a tokens file is read (or refused with what is wrong)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from pixflow.testing import ThreadWorker, wait_for
from pixflow_web.auth import AuthError, InsecureListenError, is_loopback, load_tokens, parse_tokens
from pixflow_web.server import WebConfig, WebServer
from tests.helpers import REPO

ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("PIXFLOW_")}, "PYTHONPATH": str(REPO)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pixflow(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pixflow", *args]
    return subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_the_command_serves_the_worker_with_tokens(tmp_path: Path, worker: ThreadWorker) -> None:
    tokens = tmp_path / "tokens.yaml"
    digest = hashlib.sha256(b"a-long-viewer-token").hexdigest()
    tokens.write_text(f"ops: {{token_sha256: {digest}, role: viewer}}\n")
    port = _free_port()
    args = ["web", "--listen", f"127.0.0.1:{port}", "--req-addr", worker.req, "--pub-addr", worker.pub]
    process = subprocess.Popen([sys.executable, "-m", "pixflow", *args, "--tokens", str(tokens)], env=ENV, cwd=REPO)
    try:
        url = f"http://127.0.0.1:{port}/v1/worker"

        def answered() -> requests.Response | None:
            try:
                return requests.get(url, headers={"Authorization": "Bearer a-long-viewer-token"}, timeout=2)
            except requests.ConnectionError:
                return None

        response = wait_for(answered, 20, "pixflow web to answer", interval=0.1)
        assert response.status_code == 200 and response.json()["type"] == "worker"
        assert requests.get(url, timeout=5).status_code == 401
    finally:
        process.terminate()
        assert process.wait(15) == 0


def test_a_non_loopback_address_without_tokens_is_refused() -> None:
    result = _pixflow("web", "--listen", "0.0.0.0:0")
    assert result.returncode == 2 and "without tokens" in result.stderr and "(insecure_listen)" in result.stderr
    with pytest.raises(InsecureListenError):
        WebServer(WebConfig("tcp://127.0.0.1:1", "tcp://127.0.0.1:2", host="192.0.2.1"))
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("") and not is_loopback("example.org")


def test_without_aiohttp_it_names_the_extra() -> None:
    script = "import sys; sys.modules['aiohttp'] = None; from pixflow.cli.main import main; sys.exit(main(['web']))"
    result = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "pip install 'pixflow[web]'" in result.stderr
    assert "(missing_extra)" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ([], "must map names"),
        ({"a": {"token": "short", "role": "viewer"}}, "at least 16"),
        ({"a": {"token": "x" * 20, "role": "king"}}, "needs a role"),
        ({"a": {"role": "viewer"}}, "'token' or 'token_sha256'"),
        ({"a": {"token_sha256": "abc", "role": "viewer"}}, "64 hex"),
        ({"a": {"token": "x" * 20, "role": "viewer"}, "b": {"token": "x" * 20, "role": "admin"}}, "same token"),
    ],
)
def test_a_bad_tokens_file_is_refused_with_what_is_wrong(data: object, says: str) -> None:
    with pytest.raises(AuthError, match=says):
        parse_tokens(data)


def test_a_tokens_file_in_json_and_a_token_is_its_users(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text('{"ci": {"token": "0123456789abcdef", "role": "submitter"}}')
    tokens = load_tokens(path)
    user = tokens.user("0123456789abcdef")
    assert user is not None and (user.name, user.role) == ("ci", "submitter")
    assert tokens.user("0123456789abcdeX") is None and tokens.user(None) is None
