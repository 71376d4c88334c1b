"""The architecture as docs/architecture.md draws it: no module imports a higher layer, and none grows too big."""

from __future__ import annotations

import ast
import graphlib
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGE = REPO / "pixflow"
MAX_LINES = 350

# Lowest first. A module may import its own layer and the ones before it, never one after it.
LAYERS: list[tuple[str, ...]] = [
    (
        "pixflow",
        "pixflow.vocabulary",
        "pixflow.errors",
        "pixflow.loop",
        "pixflow.resources",
        "pixflow.sprites",
    ),
    ("pixflow.comfy",),
    ("pixflow.workflows",),
    ("pixflow.jobs",),
    ("pixflow.settings", "pixflow.protocol", "pixflow.security"),
    ("pixflow.scheduling", "pixflow.groups", "pixflow.webhooks"),
    ("pixflow.serving", "pixflow.ops"),
    ("pixflow.client",),
    ("pixflow.testing", "pixflow.replay", "pixflow.cli", "pixflow.__main__"),
]


# The dashboard, lowest first: values and pure helpers; what the screen shows, as text and state; the link to the
# worker (its own thread); widgets and screens; the app and its actions; the command line that starts it.
MONITOR_LAYERS: list[tuple[str, ...]] = [
    ("pixflow_monitor", *(f"pixflow_monitor.{n}" for n in ("clock", "job_view", "request", "metrics", "pool"))),
    ("pixflow_monitor.halfblock",),  # images as half-block characters
    tuple(f"pixflow_monitor.{n}" for n in ("messages", "commands", "format", "view", "backend_text", "detail_text")),
    tuple(f"pixflow_monitor.{n}" for n in ("workflows_view", "model", "resync")),
    ("pixflow_monitor.link",),
    ("pixflow_monitor.widgets", "pixflow_monitor.screens"),
    ("pixflow_monitor.actions", "pixflow_monitor.app"),
    ("pixflow_monitor.entry", "pixflow_monitor.launch", "pixflow_monitor.__main__"),
]
# What a client of the wire may use of pixflow: the dashboard runs where no worker is installed to run.
MONITOR_MAY_USE = ("pixflow.client", "pixflow.client.tracker", "pixflow.client.keys", "pixflow.protocol")
MONITOR_MAY_USE += ("pixflow.vocabulary", "pixflow.errors")

# The web server (pixflow web), lowest first: the route table and its schemas; what is made from it and the parts
# that know no HTTP (tokens, the fan-out, the link to the worker); the streams; the app; its life; the command.
WEB_LAYERS: list[tuple[str, ...]] = [
    ("pixflow_web", "pixflow_web.schemas"),
    ("pixflow_web.routes",),
    tuple(f"pixflow_web.{n}" for n in ("openapi", "auth", "hub", "link")),
    ("pixflow_web.streams",),
    ("pixflow_web.app",),
    ("pixflow_web.server",),
    ("pixflow_web.cli",),
]
# A client of the wire, like the dashboard: what it may use of pixflow, and of the rest (pyyaml is pixflow's own
# dependency: the tokens file).
WEB_MAY_USE = ("pixflow.client", "pixflow.client.keys", "pixflow.protocol", "pixflow.vocabulary", "pixflow.errors")
WEB_THIRD_PARTY = {"aiohttp", "zmq", "msgpack", "yaml"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer_of(module: str, layers: list[tuple[str, ...]] = LAYERS) -> int:
    best, best_length = -1, -1
    for index, names in enumerate(layers):
        for name in names:
            whole = name in ("pixflow", "pixflow_monitor", "pixflow_web")  # a package's own __init__, not its modules
            matches = module == name or (not whole and module.startswith(f"{name}."))
            if matches and len(name) > best_length:
                best, best_length = index, len(name)
    if best < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and to docs/architecture.md")
    return best


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))
MONITOR_MODULES = sorted((REPO / "pixflow_monitor").rglob("*.py"))
WEB_MODULES = sorted((REPO / "pixflow_web").rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda path: _module_name(path))
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    module = _module_name(path)
    own = _layer_of(module)
    for imported in sorted(_imports(path)):
        if imported.split(".")[0] in ("pixflow_monitor", "pixflow_web"):
            raise AssertionError(f"{module} imports a client ({imported}): the worker must not need its clients")
        if not imported.startswith("pixflow.") or not _is_module(imported):
            continue  # a name imported from a module (`from pixflow.jobs.job import Job`) is judged by its module
        assert _layer_of(imported) <= own, f"{module} (layer {own}) imports {imported} (layer {_layer_of(imported)})"


def _is_module(name: str) -> bool:
    path = REPO / Path(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _check_client_layers(path: Path, layers: list[tuple[str, ...]], may_use: tuple[str, ...], what: str) -> None:
    """A client package's module: its own package's lower layers, and of pixflow only what a client of the wire may."""
    module = _module_name(path)
    own = _layer_of(module, layers)
    package = layers[0][0]
    for imported in sorted(_modules_imported(path, _project_modules())):
        if imported.startswith(package):
            below = _layer_of(imported, layers)
            assert below <= own, f"{module} (layer {own}) imports {imported} (layer {below})"
        else:
            assert imported in may_use, f"{module} imports {imported}: {what} is a client of the wire"


@pytest.mark.parametrize("path", MONITOR_MODULES, ids=lambda path: _module_name(path))
def test_no_dashboard_module_imports_a_higher_layer_or_the_worker(path: Path) -> None:
    _check_client_layers(path, MONITOR_LAYERS, MONITOR_MAY_USE, "the dashboard")


@pytest.mark.parametrize("path", WEB_MODULES, ids=lambda path: _module_name(path))
def test_no_web_module_imports_a_higher_layer_or_the_worker(path: Path) -> None:
    _check_client_layers(path, WEB_LAYERS, WEB_MAY_USE, "the web server")
    module = _module_name(path)
    for imported in _imports(path):
        top = imported.split(".")[0]
        if top not in sys.stdlib_module_names and top not in ("pixflow", "pixflow_web", "__future__"):
            assert top in WEB_THIRD_PARTY, f"{module} imports {top}: the web extra brings aiohttp only"


def _project_modules() -> set[str]:
    return {_module_name(path) for path in [*MODULES, *MONITOR_MODULES, *WEB_MODULES]}


@pytest.mark.parametrize("path", [*MODULES, *MONITOR_MODULES, *WEB_MODULES], ids=lambda path: _module_name(path))
def test_no_module_is_over_the_size_limit(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{_module_name(path)} has {lines} lines: split it by responsibility"


def test_no_import_cycles_not_even_for_the_type_checker() -> None:
    """A module that needs another's types imports them as the code would: a cycle hidden behind TYPE_CHECKING is still
    two modules that cannot be read apart (the worker was such a hub)."""
    modules = {_module_name(path): path for path in [*MODULES, *MONITOR_MODULES, *WEB_MODULES]}
    graph = {module: _modules_imported(path, set(modules)) - {module} for module, path in modules.items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as e:
        raise AssertionError(f"an import cycle: {' -> '.join(e.args[1])}") from e


def _modules_imported(path: Path, modules: set[str]) -> set[str]:
    """The project's modules a module needs: `from package import module` needs that module (and the package's
    `__init__`, which imports nothing of its own here); `from module import name` needs the module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found & modules


# A job's life fields, written only by the shell of jobs/life.py (docs/architecture.md, "A job's life").
LIFE_FIELDS = {
    "state", "phase", "backend", "attempts", "started_at", "finished_at", "state_times", "progress", "outputs",
    "error", "cancel_requested", "node_outputs", "prompt_id", "passes", "last_preview", "last_preview_image",
    "graph", "loads_model",
}  # fmt: skip
LIFE_WRITERS = {
    "pixflow.scheduling.life_shell",  # the one writer
    "pixflow.jobs.job",  # its defaults
    "pixflow.jobs.rows",  # a job read back from its row
}


@pytest.mark.parametrize("path", MODULES, ids=lambda path: _module_name(path))
def test_only_the_shell_writes_a_jobs_life(path: Path) -> None:
    module = _module_name(path)
    if module in LIFE_WRITERS:
        return
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = [
                t for target in node.targets for t in (target.elts if isinstance(target, ast.Tuple) else [target])
            ]
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Subscript):
                target = target.value  # job.state_times[...] = ...
            if (
                isinstance(target, ast.Attribute)
                and target.attr in LIFE_FIELDS
                and isinstance(target.value, ast.Name)
                and "job" in target.value.id
            ):
                raise AssertionError(
                    f"{module}:{node.lineno} writes {target.value.id}.{target.attr}: only the shell may"
                )
