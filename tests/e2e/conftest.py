"""The end-to-end tier: the worker against a real ComfyUI 0.3.75 on the CPU (see e2e/README.md).

`python3 e2e/run_e2e.py` starts one ComfyUI for the session and exports its URL as
PIXFLOW_E2E_COMFYUI_URL; without it every test here is skipped, so the fast suite (`pytest tests`)
collects this folder and reports it as skipped. The restart tests start a ComfyUI of their own, the
pool tests (test_5_pool.py) two, with different checkpoint sets.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
if str(REPO) not in sys.path:  # for `from e2e.comfyui_server import ...`
    sys.path.insert(0, str(REPO))

from tests.e2e.e2e_helpers import URL_VAR, ComfyHTTP, wait_for  # noqa: E402

E2E_TEST_TIMEOUT = 240  # seconds per test (pyproject's 60 is for the fast tier)
SKIP_REASON = f"e2e: {URL_VAR} is not set; these tests need a real ComfyUI: run `python3 e2e/run_e2e.py` (just e2e)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items: touch only the ones in this folder.
    mine = [item for item in items if HERE in Path(item.path).resolve().parents]
    skip = None if os.environ.get(URL_VAR) else pytest.mark.skip(reason=SKIP_REASON)
    for item in mine:
        item.add_marker(pytest.mark.e2e)
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(E2E_TEST_TIMEOUT))
        if skip is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def comfyui_url() -> str:
    return os.environ[URL_VAR].rstrip("/")


@pytest.fixture(scope="session")
def comfy(comfyui_url: str) -> ComfyHTTP:
    """ComfyUI's own HTTP API, to look at what the worker did there (queue, history)."""
    return ComfyHTTP(comfyui_url)


@pytest.fixture(scope="session")
def workflows_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's workflows plus two broken on purpose:

    - `missing_model`: the checkpoint loader names `missing.safetensors` and no param maps the model
      (the worker itself refuses a `model` it does not know, so the bad name must be in the graph);
    - `escape`: SaveImage with filename_prefix `../../escape`, which ComfyUI refuses while running.
    """
    directory = tmp_path_factory.mktemp("workflows")
    for path in (REPO / "workflows").iterdir():
        if path.suffix in (".yaml", ".json"):
            shutil.copy(path, directory / path.name)
    graph = json.loads((REPO / "workflows" / "txt2img.json").read_text())
    params = {
        "prompt": ["6.text"],
        "negative_prompt": ["7.text"],
        "width": ["5.width"],
        "height": ["5.height"],
        "batch_size": ["5.batch_size"],
        "seed": ["3.seed"],
        "steps": ["3.steps"],
        "cfg_scale": ["3.cfg"],
        "sampler": ["3.sampler_name"],
        "scheduler": ["3.scheduler"],
    }
    missing = json.loads(json.dumps(graph))
    missing["4"]["inputs"]["ckpt_name"] = "missing.safetensors"
    escape = json.loads(json.dumps(graph))
    escape["9"]["inputs"]["filename_prefix"] = "../../escape"
    for name, bad_graph, description, mapped in (
        ("missing_model", missing, "txt2img naming a checkpoint ComfyUI does not have", params),
        (
            "escape",
            escape,
            "txt2img whose SaveImage prefix leaves the output folder",
            {**params, "model": ["4.ckpt_name"]},
        ),
    ):
        (directory / f"{name}.json").write_text(json.dumps(bad_graph, indent=1))
        spec = {"description": description, "graph": f"{name}.json", "params": mapped}
        (directory / f"{name}.yaml").write_text(json.dumps(spec, indent=1))  # JSON is YAML
    return directory


@pytest.fixture
def e2e_worker(start_worker: Callable[..., Any], comfyui_url: str, workflows_dir: Path) -> Callable[..., Any]:
    """Start a worker (tests/conftest.py's start_worker) on the session's ComfyUI, or on `url`.

    Short intervals so that reconciling and stats do not slow the tests down; waits until the worker
    has connected to ComfyUI and read its model list.
    """

    def start(url: str | None = None, **overrides: Any) -> Any:
        settings = {"workflows_dir": workflows_dir, "reconcile_interval": 0.2, "stats_interval": 0.05, **overrides}
        running = start_worker(url or comfyui_url, **settings)
        client = running.client(timeout=10.0)
        wait_for(
            lambda: client.call("list_models")["models"], 30, what=f"the worker to connect to {url or comfyui_url}"
        )
        return running

    return start
