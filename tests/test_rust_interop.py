"""The Rust client (clients/rust) against a live worker: it must see exactly what the Python client sees,
and decode every protocol vector into its typed messages.

The client is built once per session by clients/rust/setup.sh (Debian's packaged crates, offline);
the tests skip only when cargo is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pixflow.client import Client
from pixflow.replay.server import ReplayServer
from pixflow.testing import ThreadWorker

REPO = Path(__file__).resolve().parent.parent
RUST_DIR = REPO / "clients" / "rust"
BINARY = RUST_DIR / "target" / "release" / "pixflow-client"
VECTORS = REPO / "docs" / "protocol-vectors.json"
FIXTURES = REPO / "fixtures" / "comfyui-0.3.75"
MODEL = "tiny-sd15.safetensors"

SETUP_TIMEOUT = 900  # a cold machine: apt-get install of the crates, then a release build (~35 s here)
RUN_TIMEOUT = 60  # one run of the Rust client
FOLLOW_TIMEOUT = 30  # one job, followed by either client


def _cargo() -> str | None:
    """cargo on PATH, or rustup's default place (setup.sh looks there too)."""
    rustup = Path.home() / ".cargo" / "bin" / "cargo"
    return shutil.which("cargo") or (str(rustup) if rustup.is_file() else None)


def _why_skip() -> str | None:
    """CI always runs these (.ci/run sets PIXFLOW_RUST=1: a missing cargo fails there); elsewhere they skip without
    cargo, or when PIXFLOW_RUST=0 says not to install the Rust client's Debian packages (README.md)."""
    if os.environ.get("PIXFLOW_RUST") == "1":
        return None
    if os.environ.get("PIXFLOW_RUST") == "0":
        return "PIXFLOW_RUST=0: the Rust client's checks are off"
    return "cargo is not installed: the Rust client cannot be built" if _cargo() is None else None


pytestmark = [
    pytest.mark.skipif(_why_skip() is not None, reason=_why_skip() or ""),
    # The first test of the session also waits for the build (SETUP_TIMEOUT); every step inside has its
    # own, shorter timeout.
    pytest.mark.timeout(SETUP_TIMEOUT + 120),
]


# Fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rust_client() -> Path:
    """Build the client once per session (setup.sh is idempotent: a no-op when it is up to date)."""
    try:
        result = subprocess.run(
            ["bash", str(RUST_DIR / "setup.sh")],
            capture_output=True,
            text=True,
            timeout=SETUP_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"clients/rust/setup.sh did not finish within {SETUP_TIMEOUT}s:\n{e.stderr}")
    assert result.returncode == 0, f"clients/rust/setup.sh failed:\n{result.stdout}\n{result.stderr}"
    assert BINARY.is_file(), f"setup.sh did not produce {BINARY}"
    return BINARY


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadWorker]:
    """A replay ComfyUI and a worker on wildcard loopback ports, the worker in a thread."""
    replay = ReplayServer(FIXTURES, default="fresh", speed=0).start()
    worker = ThreadWorker(tmp_path_factory.mktemp("rust-interop"), replay.url)
    try:
        with Client(worker.req, worker.pub, timeout=5.0) as client:
            _wait_for_models(client)
        yield worker
    finally:
        worker.stop()
        replay.stop()


def _wait_for_models(client: Client, timeout: float = 10.0) -> None:
    """The worker learns the backend's checkpoints shortly after it starts; `model` is checked against them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if MODEL in client.call("list_models")["models"]:
            return
        time.sleep(0.02)
    raise AssertionError(f"the worker did not list {MODEL} within {timeout}s")


# Helpers -------------------------------------------------------------------------------------------------


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def __str__(self) -> str:
        return f"exit {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def run_rust(binary: Path, live: ThreadWorker | None, *args: str, timeout: float = RUN_TIMEOUT) -> Run:
    command = [str(binary)]
    if live is not None:
        command += ["--req", live.req, "--pub", live.pub, "--timeout", "5"]
    try:
        result = subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if not k.startswith("PIXFLOW_")},
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"pixflow-client {' '.join(args)} did not finish within {timeout}s:\n{e.stdout}\n{e.stderr}")
    return Run(result.returncode, result.stdout, result.stderr)


def without_nil(value: Any) -> Any:
    """The protocol's equality: an absent field and a nil one mean the same."""
    if isinstance(value, dict):
        return {k: without_nil(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nil(v) for v in value]
    return value


def comparable(topic: str, event: dict[str, Any]) -> dict[str, Any]:
    """An event as the Rust client prints it: preview images as their length."""
    event = dict(event)
    if topic.startswith("job.preview.") and "image" in event:
        event["image_len"] = len(event.pop("image"))
    return without_nil(event)


def known_part(python: Any, rust: Any) -> Any:
    """What the Python client decoded, restricted to the fields the Rust types know (the fields the Rust client
    printed): fields added to the protocol since are ignored by the Rust client, as the protocol requires."""
    if isinstance(python, dict) and isinstance(rust, dict):
        return {k: known_part(v, rust[k]) for k, v in python.items() if k in rust}
    if isinstance(python, list) and isinstance(rust, list) and len(python) == len(rust):
        return [known_part(p, r) for p, r in zip(python, rust, strict=True)]
    return python


def python_run_job(live: ThreadWorker, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    with live.client() as client:
        client.subscribe_job(job_id)
        client.wait_subscribed()
        client.call("generate", id=job_id, prompt="pixel art knight", model=MODEL, size=[64, 64], steps=8)
        return list(client.follow(job_id, FOLLOW_TIMEOUT))


GENERATE_ARGS = (
    "--prompt",
    "pixel art knight, 16-bit sprite",
    "--model",
    MODEL,
    "--size",
    "64x64",
    "--steps",
    "8",
    "--cfg-scale",
    "7.0",
)


# Tests ---------------------------------------------------------------------------------------------------


def test_generate_follow_sees_what_the_python_client_sees(rust_client: Path, live: ThreadWorker) -> None:
    job_id = "rust-follow-1"
    python_events: list[tuple[str, dict[str, Any]]] = []
    python_error: list[BaseException] = []
    python = live.client()
    python.subscribe_job(job_id)
    python.wait_subscribed()

    def follow() -> None:
        try:
            python_events.extend(python.follow(job_id, FOLLOW_TIMEOUT))
        except BaseException as e:  # reported by the test thread
            python_error.append(e)

    follower = threading.Thread(target=follow, name="python-follower", daemon=True)
    follower.start()
    try:
        rust = run_rust(
            rust_client,
            live,
            "generate",
            "--id",
            job_id,
            *GENERATE_ARGS,
            "--previews",
            "--follow",
            "--follow-timeout",
            str(FOLLOW_TIMEOUT),
        )
        follower.join(FOLLOW_TIMEOUT + 5)
        assert not follower.is_alive(), "the Python client is still following the job"
        with live.client() as client:
            status = client.status(job_id)
    finally:
        python.close()
    assert rust.returncode == 0, str(rust)
    assert not python_error, f"the Python client failed: {python_error[0]!r}\nRust: {rust}"

    lines = rust.lines
    accepted, rust_events = lines[0], [line for line in lines[1:] if "topic" in line]
    assert len(rust_events) == len(lines) - 1, f"unexpected lines: {rust}"
    assert accepted["type"] == "accepted" and accepted["job_id"] == job_id, accepted
    assert accepted["existing"] is False and accepted["state"] == "queued", accepted

    # The same events, in the same order, with the same fields (ts included: one published message).
    rust_by_topic = [(e.pop("topic"), without_nil(e)) for e in rust_events]
    python_by_topic = [(topic, comparable(topic, event)) for topic, event in python_events]
    assert [t for t, _ in rust_by_topic] == [t for t, _ in python_by_topic]
    for (topic, rust_event), (_, python_event) in zip(rust_by_topic, python_by_topic, strict=True):
        assert rust_event == known_part(python_event, rust_event), topic

    # No slow joiner: both saw every event from seq 1, without gaps, up to the seq `status` reports.
    seqs = [e["seq"] for _, e in rust_by_topic]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    assert seqs[-1] == status["seq"]

    states = [(e["seq"], e.get("from"), e["to"]) for t, e in rust_by_topic if t.startswith("job.state.")]
    assert states[0] == (1, None, "queued")
    assert [to for _, _, to in states] == ["queued", "loading", "encoding", "sampling", "decoding", "saving", "done"]
    progress = [(e["node"], e["value"], e["max"]) for t, e in rust_by_topic if t.startswith("job.progress.")]
    assert progress == [("3", step, 8) for step in range(1, 9)]
    previews = [e for t, e in rust_by_topic if t.startswith("job.preview.")]
    assert len(previews) == 8 and all(p["image_len"] > 0 and p["format"] in ("jpeg", "png") for p in previews)

    # The outputs: in job.output, in the final job.state, in status; and on disk.
    outputs = [e for t, e in rust_by_topic if t.startswith("job.output.")]
    done = rust_by_topic[-1][1]
    assert done["to"] == "done"
    assert [{k: o[k] for k in done["outputs"][0]} for o in outputs] == done["outputs"]
    assert known_part(without_nil(status["outputs"]), done["outputs"]) == done["outputs"]
    assert all(Path(o["path"]).is_file() and Path(o["path"]).stat().st_size == o["bytes"] for o in done["outputs"])


def test_generate_follow_of_a_finished_job_returns_it_as_it_is(rust_client: Path, live: ThreadWorker) -> None:
    job_id = "rust-again-1"
    python_run_job(live, job_id)
    rust = run_rust(rust_client, live, "generate", "--id", job_id, *GENERATE_ARGS, "--follow", "--follow-timeout", "10")
    assert rust.returncode == 0, str(rust)
    accepted, status = rust.lines
    assert accepted["type"] == "accepted" and accepted["existing"] is True and accepted["state"] == "done"
    assert status["type"] == "job" and status["job_id"] == job_id and status["state"] == "done"


def test_generate_without_follow_and_a_rejected_one(rust_client: Path, live: ThreadWorker) -> None:
    rust = run_rust(rust_client, live, "generate", "--id", "rust-nofollow-1", *GENERATE_ARGS)
    assert rust.returncode == 0, str(rust)
    [accepted] = rust.lines
    assert accepted["type"] == "accepted" and accepted["job_id"] == "rust-nofollow-1", accepted

    rust = run_rust(rust_client, live, "generate", "--prompt", "too many steps", "--steps", "500")
    assert rust.returncode == 1, str(rust)
    [error] = rust.lines
    assert error["type"] == "error" and error["code"] == "invalid_params", error
    assert "steps" in error["message"]


def test_status_of_a_job_and_of_the_worker(rust_client: Path, live: ThreadWorker) -> None:
    job_id = "rust-status-1"
    python_run_job(live, job_id)
    with live.client() as client:
        expected = client.status(job_id)
        worker = client.status()

    rust = run_rust(rust_client, live, "status", job_id)
    assert rust.returncode == 0, str(rust)
    [job] = rust.lines
    expected.pop("req_id")
    job.pop("req_id")
    assert without_nil(job) == known_part(without_nil(expected), without_nil(job))
    assert job["state"] == "done" and job["params"]["model"] == MODEL and job["params"]["size"] == [64, 64]

    rust = run_rust(rust_client, live, "status")
    assert rust.returncode == 0, str(rust)
    [status] = rust.lines
    assert status["type"] == "worker" and status["protocol"] == 1 == worker["protocol"]
    assert status["version"] == worker["version"] and status["workflows"] == worker["workflows"]
    assert [b["name"] for b in status["backends"]] == [b["name"] for b in worker["backends"]]
    assert all(b["up"] for b in status["backends"])
    assert status["jobs"]["done"] >= 1

    rust = run_rust(rust_client, live, "status", "no-such-job")
    assert rust.returncode == 1, str(rust)
    assert rust.lines[0]["code"] == "not_found"


def test_cancel_of_a_finished_job_is_already_finished(rust_client: Path, live: ThreadWorker) -> None:
    job_id = "rust-cancel-1"
    python_run_job(live, job_id)
    rust = run_rust(rust_client, live, "cancel", job_id)
    assert rust.returncode == 1, str(rust)
    [error] = rust.lines
    assert error["type"] == "error" and error["code"] == "already_finished", error
    assert "already_finished" in rust.stderr

    rust = run_rust(rust_client, live, "cancel", "no-such-job")
    assert rust.returncode == 1, str(rust)
    assert rust.lines[0]["code"] == "not_found"


def test_list_models(rust_client: Path, live: ThreadWorker) -> None:
    with live.client() as client:
        expected = client.call("list_models")
    rust = run_rust(rust_client, live, "list-models")
    assert rust.returncode == 0, str(rust)
    [models] = rust.lines
    assert models["type"] == "models" and MODEL in models["models"]
    assert models["models"] == expected["models"] and models["backends"] == expected["backends"]


def test_ping_and_an_unreachable_worker_times_out(rust_client: Path, live: ThreadWorker) -> None:
    rust = run_rust(rust_client, live, "ping")
    assert rust.returncode == 0, str(rust)
    assert rust.lines[0]["type"] == "pong"

    # Nobody listens on port 1: the reply timeout ends it, with exit status 2.
    rust = run_rust(
        rust_client, None, "--req", "tcp://127.0.0.1:1", "--pub", "tcp://127.0.0.1:2", "--timeout", "0.3", "ping"
    )
    assert rust.returncode == 2, str(rust)
    assert "timeout" in rust.stderr


def test_every_protocol_vector_decodes_into_the_rust_types(rust_client: Path) -> None:
    vectors = json.loads(VECTORS.read_text())["vectors"]
    rust = run_rust(rust_client, None, "vectors", str(VECTORS))
    assert rust.returncode == 0, str(rust)
    *results, summary = rust.lines
    assert [r["name"] for r in results] == [v["name"] for v in vectors]
    failed = [r for r in results if not r["ok"]]
    assert not failed, json.dumps(failed, indent=1)
    assert all(r.get("decoded_as") for r in results)
    assert summary["vectors"] == summary["decoded"] == len(vectors) and summary["failed"] == 0, summary
    # Fields the Rust types do not know are ignored, as the protocol requires; name them so that someone adds
    # them to clients/rust/src/protocol.rs (`pixflow-client vectors --strict` fails on them).
    ignored = {r["name"]: r["ignored_fields"] for r in results if r.get("ignored_fields")}
    if ignored:
        warnings.warn(f"fields of the vectors that the Rust types ignore: {ignored}", stacklevel=1)


def test_vectors_fails_loudly_on_a_message_it_cannot_decode(rust_client: Path, tmp_path: Path) -> None:
    import msgpack

    def vector(name: str, kind: str, message: dict[str, Any], topic: str | None = None) -> dict[str, Any]:
        v = {"name": name, "kind": kind, "message": message, "hex": msgpack.packb(message).hex()}
        return {**v, "topic": topic} if topic else v

    doc = json.loads(VECTORS.read_text())
    doc["vectors"] += [
        vector("unknown request type", "request", {"type": "frobnicate", "v": 1}),
        vector(
            "seq as a string",
            "event",
            {"ts": 1, "job_id": "a", "seq": "1", "from": None, "to": "queued"},
            "job.state.a",
        ),
        vector(
            "state not in the protocol",
            "reply",
            {"type": "accepted", "v": 1, "job_id": "a", "existing": False, "state": "paused"},
        ),
    ]
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps(doc))
    rust = run_rust(rust_client, None, "vectors", str(path))
    assert rust.returncode == 1, str(rust)
    *results, summary = rust.lines
    assert [r["name"] for r in results if not r["ok"]] == [
        "unknown request type",
        "seq as a string",
        "state not in the protocol",
    ]
    assert summary["failed"] == 3
    for name in ("unknown request type", "seq as a string", "state not in the protocol"):
        assert f'vector "{name}" FAILED' in rust.stderr
