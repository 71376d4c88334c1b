"""`pixflow-monitor` without the dashboard's extra installed: one line with the pip command, code, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

from tests.helpers import REPO

# textual made unimportable, as in an environment where `pixflow[monitor]` was not installed.
WITHOUT_TEXTUAL = (
    "import sys, runpy; sys.modules['textual'] = None; sys.argv = ['pixflow-monitor']; "
    "runpy.run_module('pixflow_monitor', run_name='__main__')"
)


def test_without_textual_it_names_the_extra_and_exits_2():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_TEXTUAL], capture_output=True, text=True, timeout=60, env=env, cwd=REPO
    )
    assert result.returncode == 2, result.stderr
    assert "pip install 'pixflow[monitor]'" in result.stderr and "(missing_extra)" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_the_installed_script_runs_the_check_first():
    """The console script must enter through the launcher: the app module imports textual at its top."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["pixflow-monitor"] == "pixflow_monitor.launch:main"
