"""The LoRA examples of README.md and docs/workflows.md, run as a new user runs them: `pixflow submit` against a
worker on the replay ComfyUI, which offers the LoRAs they name (pixflow/replay/models.py, STAND_IN_LORAS)."""

from __future__ import annotations

import re
import shlex

import pytest

from pixflow.cli.main import main
from pixflow.replay.models import STAND_IN_LORAS
from pixflow.testing import ThreadWorker
from tests.helpers import REPO
from tests.workflow_helpers import by_name, sidecar, wait_done

DOCUMENTS = ("README.md", "docs/workflows.md")


def _lora_examples() -> list[str]:
    """Every `pixflow submit` line of the documents that adds a LoRA or uses the LoRA slot of `sprite_lora`."""
    found = []
    for document in DOCUMENTS:
        for line in (REPO / document).read_text().splitlines():
            command = line.split("#", 1)[0].strip()
            if command.startswith("pixflow submit") and ("--lora" in command or "sprite_lora" in command):
                found.append(command)
    return found


def test_the_documents_have_lora_examples() -> None:
    assert len(_lora_examples()) >= 2


@pytest.mark.parametrize("example", _lora_examples())
def test_each_lora_example_runs_on_the_replay_server(worker: ThreadWorker, example: str, capsys) -> None:
    job_id = "example-" + re.sub(r"[^a-z0-9]+", "-", example.lower())[-40:].strip("-")
    argv = [*shlex.split(example)[1:], "--id", job_id, "--req-addr", worker.req, "--pub-addr", worker.pub]
    assert main(argv) == 0, capsys.readouterr()
    job = wait_done(worker.client(), job_id)
    assert job["state"] == "done", job
    graph = sidecar(worker.output_dir, job_id)["graph"]
    wanted = [lora["name"] for lora in job["params"].get("loras") or []]
    loaded = [node["inputs"]["lora_name"] for node in graph.values() if node["class_type"] == "LoraLoader"]
    assert set(wanted) <= set(loaded) and set(loaded) <= set(STAND_IN_LORAS)


def test_sprite_lora_takes_more_loras_chained_before_its_own_slot(worker: ThreadWorker) -> None:
    client = worker.client()
    loras = [{"name": "style.safetensors", "strength": 0.5}]
    client.call("generate", id="slot-and-more", prompt="knight", workflow="sprite_lora", size=[64, 64], loras=loras)
    assert wait_done(client, "slot-and-more")["state"] == "done"
    graph = sidecar(worker.output_dir, "slot-and-more")["graph"]
    (added,) = [node_id for node_id, node in graph.items() if node["inputs"].get("lora_name") == "style.safetensors"]
    assert graph[added]["inputs"]["model"] == ["4", 0] and graph["20"]["inputs"]["model"] == [added, 0]
    assert graph["20"]["inputs"]["lora_name"] == "tiny-lora.safetensors"  # the slot's default, kept


def test_workflows_check_lists_the_replays_loras(worker: ThreadWorker, capsys) -> None:
    assert main(["workflows", "--check", "--req-addr", worker.req, "--pub-addr", worker.pub]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"COMBO one of\s\s", out)  # an empty COMBO: no LoRA to choose
    assert f"COMBO one of {', '.join(STAND_IN_LORAS)}" in out
    sprite_lora = by_name(worker.client().call("list_workflows")["workflows"])["sprite_lora"]
    assert sprite_lora["max_loras"] == 4 and sprite_lora["missing"] == {}
