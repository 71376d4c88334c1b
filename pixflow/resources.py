"""Files pixflow ships: the workflows and the demo's recorded ComfyUI runs, found where the package is installed.

They live in the repository's workflows/ and fixtures/comfyui-0.3.75/ (edited there). pixflow/_data/ holds
symlinks to both, and pyproject.toml's package-data puts what they point at into the wheel, so an installed
pixflow finds them inside the package, and a checkout (or `pip install -e .`) through the symlinks. A checkout
without symlinks (git's core.symlinks off) still works: the repository's folders are used directly.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def _shipped(name: str, in_repository: Path) -> Path:
    inside = Path(str(files("pixflow") / "_data" / name))  # a plain folder: pixflow is never imported from a zip
    if inside.is_dir():
        return inside
    return in_repository


def workflows_dir() -> Path:
    """The YAML workflows and their graphs: the default `workflows_dir`."""
    return _shipped("workflows", _REPO / "workflows")


def demo_recordings() -> Path:
    """ComfyUI 0.3.75's recorded runs: what `pixflow replay` and `pixflow demo` serve by default."""
    return _shipped("demo", _REPO / "fixtures" / "comfyui-0.3.75")
