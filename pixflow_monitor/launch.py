"""`pixflow-monitor`'s entry point: without the dashboard's extra installed, one line naming the pip command
(code `missing_extra`, exit 2, as `pixflow replay` and `pixflow demo` answer), not a ModuleNotFoundError.

Imports nothing of textual itself: the check must run before the app module (which needs it) is loaded.
"""

from __future__ import annotations

import importlib.util
import sys

NEEDED = ("textual", "textual_image")  # what `pip install 'pixflow[monitor]'` brings


def missing_modules() -> list[str]:
    missing = []
    for name in NEEDED:
        try:
            found = importlib.util.find_spec(name) is not None
        except ValueError:  # a module set to None in sys.modules: it cannot be imported either
            found = False
        if not found or sys.modules.get(name, False) is None:
            missing.append(name)
    return missing


def main(argv: list[str] | None = None) -> int:
    missing = missing_modules()
    if missing:
        print(
            f"pixflow-monitor: the dashboard needs {', '.join(missing)}, which is not installed: "
            "pip install 'pixflow[monitor]' (missing_extra)",
            file=sys.stderr,
        )
        return 2
    from pixflow_monitor.entry import main as run_app

    return run_app(argv)
