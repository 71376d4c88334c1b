"""The Rust client with CURVE keys (PIXFLOW_SERVER_KEY, PIXFLOW_CLIENT_KEY) completes a job on a CURVE worker, and
without them gets nothing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.test_rust_interop import FOLLOW_TIMEOUT, GENERATE_ARGS, RUN_TIMEOUT, pytestmark, rust_client  # noqa: F401
from tests.test_security import Keys, keys, secured  # noqa: F401


def run(binary: Path, worker, with_keys: Keys | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXFLOW_")}
    if with_keys is not None:
        env |= {
            "PIXFLOW_SERVER_KEY": str(with_keys.worker_public),
            "PIXFLOW_CLIENT_KEY": str(with_keys.secrets / "alice.key_secret"),
        }
    command = [str(binary), "--req", worker.req, "--pub", worker.pub, "--timeout", "2", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL, env=env
    )


def test_the_rust_client_completes_a_job_with_keys(rust_client, secured, keys):  # noqa: F811
    worker, client = secured
    done = run(rust_client, worker, keys, "generate", "--id", "rust-curve-1", *GENERATE_ARGS, "--follow",
               "--follow-timeout", str(FOLLOW_TIMEOUT))  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    states = [line["to"] for line in lines if line.get("topic", "").startswith("job.state.")]
    assert lines[0]["type"] == "accepted" and states[-1] == "done", done.stdout
    assert client("root").call("status", job_id="rust-curve-1")["owner"] == "alice"  # known by its key
    refused = run(rust_client, worker, None, "ping")
    assert refused.returncode != 0  # no keys: no answer
