"""One transport per backend (comfy/transport.py), through a real TCP relay in front of the replay server: https
and wss with a CA bundle named in the environment, a proxy from the environment, .netrc, user:password in the URL.
The relay forwards bytes both ways (TLS ended there when asked) and records what the client sent."""

from __future__ import annotations

import base64
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixflow.comfy.client import FEATURE_FLAGS, Answer, ComfyClient
from pixflow.comfy.event_socket import EventSocket
from pixflow.comfy.loop_http import LoopHttp
from pixflow.errors import BackendError
from pixflow.replay.server import ReplayServer
from pixflow.testing import ThreadWorker
from tests.helpers import run_job, states_of
from tests.loop_helpers import LoopDriver

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
TLS_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "NETRC")


class Relay:
    """Forwards every connection to `upstream`; records the bytes each client sent (the requests, in order)."""

    def __init__(self, upstream: int, tls: ssl.SSLContext | None = None) -> None:
        self._upstream, self._tls = upstream, tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._sent: list[bytes] = []
        self._lock = threading.Lock()
        self._running = True
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def sent(self) -> bytes:
        with self._lock:
            return b"".join(self._sent)

    def close(self) -> None:
        self._running = False
        self._thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while self._running:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            client.settimeout(10)
            if self._tls is not None:
                client = self._tls.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(("127.0.0.1", self._upstream), timeout=10)
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
        self._pump(client, upstream, True)

    def _pump(self, source: socket.socket, target: socket.socket, record: bool) -> None:
        try:
            while data := source.recv(65536):
                if record:
                    with self._lock:
                        self._sent.append(data)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                end.close()


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*PROXY_VARIABLES, *TLS_VARIABLES, "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def relay(replay: ReplayServer) -> Iterator[Relay]:
    front = Relay(replay.port)
    yield front
    front.close()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and a certificate for 127.0.0.1 signed by it (the openssl command line: no test CA package here)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    run = ["openssl", "req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]
    subprocess.run([*run, "-subj", "/CN=pixflow test CA", *ca], cwd=folder, check=True, capture_output=True)
    request = ["openssl", "req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]
    subprocess.run(request, cwd=folder, check=True, capture_output=True)
    (folder / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    sign = ["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"]
    sign += ["-out", "server.pem", "-days", "2", "-extfile", "server.ext"]
    subprocess.run(sign, cwd=folder, check=True, capture_output=True)
    return folder


@pytest.fixture
def tls_relay(replay: ReplayServer, certificates: Path) -> Iterator[Relay]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
    front = Relay(replay.port, context)
    yield front
    front.close()


def test_https_and_wss_verify_against_the_ca_bundle_the_environment_names(
    tls_relay: Relay, certificates: Path, clean_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with ComfyClient(tls_relay.url, timeout=5) as client, pytest.raises(BackendError, match=r"(?i)certificate"):
        client.queue()  # verified against the default CAs: this test CA is not one of them
    clean_environment.setenv("REQUESTS_CA_BUNDLE", str(certificates / "ca.pem"))
    running = ThreadWorker(tmp_path, tls_relay.url)
    try:
        events = run_job(running.client(), "over-tls", timeout=15)
    finally:
        running.stop()
    assert states_of(events)[-1] == "done"
    # The relay speaks TLS only: the prompt, its events and its image all came through it.
    sent = tls_relay.sent()
    assert b"POST /prompt HTTP/1.1" in sent and b"GET /view?" in sent and b"GET /ws?clientId=" in sent


@pytest.mark.parametrize("variable", ["http_proxy", "HTTP_PROXY"])
def test_a_proxy_from_the_environment_carries_the_calls_and_the_loops_transfers(
    replay: ReplayServer, relay: Relay, clean_environment: pytest.MonkeyPatch, variable: str
) -> None:
    clean_environment.setenv(variable, relay.url)  # the relay forwards to the replay server: a proxy that passes
    with ComfyClient(replay.url, timeout=5) as client:
        assert "queue_running" in client.queue()
        loop = LoopDriver()
        http = LoopHttp(loop.watcher, loop.schedule, client.transport, parallel=1)
        answers: list[Answer | str] = []
        http.get(f"{replay.url}/history", answers.append)
        loop.run_until(lambda: answers)
        http.close()
    assert isinstance(answers[0], Answer) and answers[0].status_code == 200
    sent = relay.sent()
    assert f"GET {replay.url}/queue HTTP/1.1".encode() in sent  # absolute form: a request to a proxy
    assert f"GET {replay.url}/history HTTP/1.1".encode() in sent
    clean_environment.setenv("no_proxy", "127.0.0.1")
    with ComfyClient(replay.url, timeout=5) as client:
        client.queue()
    assert relay.sent() == sent  # no_proxy: straight to the server


def _basic(user: str, password: str) -> bytes:
    return b"Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode())


def test_netrc_credentials_go_with_every_call(
    relay: Relay, clean_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login ann password s3cret\n")
    netrc.chmod(0o600)
    clean_environment.setenv("NETRC", str(netrc))
    with ComfyClient(relay.url, timeout=5) as client:
        client.queue()
        loop = LoopDriver()
        http = LoopHttp(loop.watcher, loop.schedule, client.transport, parallel=1)
        answers: list[Answer | str] = []
        http.get(f"{relay.url}/history", answers.append)
        loop.run_until(lambda: answers)
        http.close()
    assert relay.sent().count(_basic("ann", "s3cret")) == 2


def test_credentials_in_the_url_go_with_the_http_calls_and_the_websocket_upgrade(
    relay: Relay, clean_environment: pytest.MonkeyPatch
) -> None:
    url = relay.url.replace("http://", "http://ann:s%40id@")
    with ComfyClient(url, timeout=5) as client:
        client.queue()
        events = EventSocket.open(client.socket_url("with-auth"), 5, FEATURE_FLAGS)
        events.close()
    sent = relay.sent()
    assert sent.count(_basic("ann", "s@id")) == 2  # GET /queue, then the upgrade
    assert f"Host: 127.0.0.1:{relay.port}\r\n".encode() in sent  # never the credentials in the Host header
