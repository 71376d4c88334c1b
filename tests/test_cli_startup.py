"""The quick commands (`status`, `jobs`, `cancel`, `health`) load the client and nothing heavier, against a real worker.

Each runs as its own process through a wrapper that writes the process's `sys.modules` when it exits: the
worker, the settings, the progress view, the replay server and the heavy libraries must not be among them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

WRAPPER = """
import atexit, json, sys
out, argv = sys.argv[1], sys.argv[2:]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from pixflow.cli.main import main
raise SystemExit(main(argv))
"""
# What a quick command may load of pixflow: the CLI's parser modules and the client with what it stands on.
ALLOWED = {
    "pixflow",
    "pixflow.cli",
    "pixflow.cli.main",
    "pixflow.cli.client_args",
    "pixflow.cli.jobs_cmd",  # jobs, retry, pause, resume, drain, disable, enable: client calls only
    "pixflow.cli.status_view",  # plain text for `status` and `jobs`
    "pixflow.cli.compare",
    "pixflow.cli.sheet_cmd",  # sheet, reroll: a parser module, client calls only
    "pixflow.cli.config_cmd",
    "pixflow.cli.health",
    "pixflow.cli.keys",
    "pixflow.cli.logs",
    "pixflow.cli.workflow_args",  # a parser module: argparse, json and the client
    "pixflow.client",
    "pixflow.client.calls",
    "pixflow.client.connection",
    "pixflow.client.keys",
    "pixflow.client.tracker",
    "pixflow.errors",
    "pixflow.protocol",
    "pixflow.security",
    "pixflow.security.keys",
    "pixflow.security.roles",
    "pixflow.vocabulary",
}
HEAVY = {
    "aiohttp",
    "textual",
    "textual_image",
    "PIL",
    "rich",
    "requests",
    "websocket",
    "pixflow_monitor",
}
HEAVY |= {"prometheus_client", "sqlite3"}


def _loaded(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    out = tmp_path / f"modules-{'-'.join(args[:2])}.json"
    # Not PIXFLOW_* from this process: a test that ran `main()` here may have left key files in them.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PIXFLOW_")}, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", WRAPPER, str(out), *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    return result, json.loads(out.read_text())


@pytest.mark.parametrize(
    ("command", "expected_code"),
    [
        (["status", "--json"], 0),
        (["status"], 0),
        (["status", "no-such-job"], 2),
        (["jobs"], 0),
        (["cancel", "no-such-job"], 2),
        (["health"], 1),
    ],
    ids=["status-json", "status", "status-job", "jobs", "cancel", "health"],
)
def test_a_quick_command_imports_the_client_only(tmp_path, start_worker, command, expected_code):
    # No ComfyUI at this URL: the worker serves, the backend is down, so health says degraded (exit 1).
    worker = start_worker("http://127.0.0.1:9")
    result, modules = _loaded(tmp_path, *command, "--req-addr", worker.req, "--pub-addr", worker.pub)
    assert result.returncode == expected_code, result.stdout + result.stderr
    if command == ["status", "--json"]:
        assert json.loads(result.stdout)["type"] == "worker"
    own = {name for name in modules if name == "pixflow" or name.startswith("pixflow.")}
    assert own <= ALLOWED, f"{command[0]} imported {sorted(own - ALLOWED)}"
    heavy = {name.split(".")[0] for name in modules} & HEAVY
    assert not heavy, f"{command[0]} imported {sorted(heavy)}"


def test_a_slow_command_still_loads_what_it_needs(tmp_path):
    """The lazy import really happens: `config show` loads the settings when it runs (and never the worker)."""
    result, modules = _loaded(tmp_path, "config", "show")
    assert result.returncode == 0, result.stderr
    assert "pixflow.settings" in modules and "pixflow.serving" not in modules
