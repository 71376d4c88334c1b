"""`compare`: a group of jobs over models x seeds, idempotent by its id, filtered by list_jobs, with a contact sheet."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pixflow.cli.main import main
from pixflow.client import Client, ClientError
from pixflow.groups.sheet import Cell, render_sheet, sheet_size
from pixflow.jobs.rows import SCHEMA, SCHEMA_VERSION
from pixflow.jobs.store import JobStore
from pixflow.replay.server import ReplayServer
from pixflow.testing import ThreadWorker, wait_for
from pixflow.vocabulary import TERMINAL_STATES, TOPIC_GROUP_DONE, TOPIC_STATE, JobState
from tests.helpers import FIXTURES

MODEL_A = "tiny-sd15.safetensors"  # the fixture's checkpoint
MODEL_B = "tiny-sd15-b.safetensors"  # a second name added to the replay's list (it plays the same run for any)
SMALL = {"size": [64, 64], "steps": 8}


@pytest.fixture
def two_models(replay: ReplayServer, start_worker: Callable[..., ThreadWorker]) -> ThreadWorker:
    def add_model(state: Any) -> None:
        state.object_info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0].append(MODEL_B)

    replay.call(add_model)
    running = start_worker(replay.url)
    client = running.client()
    wait_for(lambda: len(client.call("list_models")["models"]) == 2, what="the worker to learn both models")
    return running


def _run_group(client: Client, group_id: str, size: int, **fields: Any) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """Subscribe to the group's end and its jobs (their ids are known before: `<group_id>-<n>`), send `compare`,
    collect the events until the group's end."""
    client.subscribe(f"{TOPIC_GROUP_DONE}{group_id}")
    for n in range(1, size + 1):
        client.subscribe_job(f"{group_id}-{n}")
    client.wait_subscribed()
    answer = client.compare("pixel art knight", group_id=group_id, **SMALL, **fields)
    events = list(client.follow_jobs(answer["job_ids"], timeout=30))
    done = client.next_event(10, want=lambda topic, _: topic == f"{TOPIC_GROUP_DONE}{group_id}")
    return answer, [*events, done]


def test_a_group_of_two_models_by_two_seeds_runs_and_gets_a_contact_sheet(two_models: ThreadWorker) -> None:
    client = two_models.client()
    answer, events = _run_group(client, "cmp", 4, models=[MODEL_A, MODEL_B], seeds=[1, 2])
    assert answer["type"] == "group" and answer["existing"] is False
    assert answer["job_ids"] == ["cmp-1", "cmp-2", "cmp-3", "cmp-4"]
    assert answer["contact_sheet"] is None and answer["finished"] is False
    states = [e for topic, e in events if topic.startswith(TOPIC_STATE) and not e.get("synthetic")]
    created = [e for e in states if e["from"] is None]
    assert {e["group_id"] for e in created} == {"cmp"} and len(created) == 4
    grid = [(job["params"]["model"], job["params"]["seed"]) for job in answer["jobs"]]
    assert grid == [(MODEL_A, 1), (MODEL_A, 2), (MODEL_B, 1), (MODEL_B, 2)]  # models outer, seeds inner
    for job_id in answer["job_ids"]:
        job = client.status(job_id)
        assert job["state"] == JobState.DONE and job["group_id"] == "cmp"
    _, done = events[-1]
    assert done["group_id"] == "cmp" and done["job_ids"] == answer["job_ids"]
    assert (done["done"], done["failed"], done["cancelled"], done["error"]) == (4, 0, 0, None)
    sheet = Path(done["contact_sheet"])
    assert sheet == (two_models.output_dir / "cmp" / "contact_sheet.png").resolve()
    with Image.open(sheet) as image:
        assert image.size == sheet_size(2, 2)
    group = client.call("group", group_id="cmp")
    assert group["finished"] is True and group["contact_sheet"] == str(sheet)
    assert [job["job_id"] for job in group["jobs"]] == answer["job_ids"]


def test_the_same_group_id_again_answers_the_same_jobs(two_models: ThreadWorker) -> None:
    client = two_models.client()
    first = client.compare("a castle", group_id="again", seeds=[5, 6, 7], **SMALL)
    retry = client.compare("something else entirely", group_id="again", models=[MODEL_B], **SMALL)
    assert retry["existing"] is True and retry["job_ids"] == first["job_ids"] == ["again-1", "again-2", "again-3"]
    assert client.call("list_jobs", group_id="again")["total"] == 3


def test_list_jobs_filters_by_group(two_models: ThreadWorker) -> None:
    client = two_models.client()
    client.submit("alone", id="solo", **SMALL)
    client.compare("pair", group_id="g1", models=[MODEL_A, MODEL_B], **SMALL)
    client.compare("pair", group_id="g2", seeds=[1], **SMALL)
    page = client.call("list_jobs", group_id="g1")
    assert page["total"] == 2 and [job["job_id"] for job in page["jobs"]] == ["g1-2", "g1-1"]  # newest first
    assert {job["group_id"] for job in page["jobs"]} == {"g1"}
    assert client.call("list_jobs", group_id="g2", state=[*TERMINAL_STATES, "queued"])["total"] <= 1
    assert client.status("solo")["group_id"] is None
    assert client.call("list_jobs")["total"] == 4


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({}, "needs 'models' or 'seeds'"),
        ({"models": "tiny-sd15.safetensors"}, "non-empty list"),
        ({"seeds": []}, "non-empty list"),
        ({"seeds": [1, 1]}, "twice"),
        ({"seeds": [1, True]}, "only int"),
        ({"models": [MODEL_A], "model": MODEL_A}, "not both"),
        ({"seeds": list(range(65))}, "at most 64"),
        ({"seeds": [1, 2], "steps": 151}, "'steps' must be between 1 and 150"),  # the workflow's own range
        ({"seeds": [1], "loras": [{"name": "style.safetensors"}]}, "takes no 'loras'"),
        ({"seeds": [1], "workflow": "sprite_lora", "loras": [{"name": "missing.safetensors"}]}, "no backend has"),
        ({"seeds": [1], "params": {"nope": 1}}, "nope"),
        ({"models": ["nope.safetensors"]}, "unknown model"),
        ({"seeds": [1], "group_id": "bad id!"}, "'group_id' must be"),
        ({"seeds": [1], "group_id": "g" * 121}, "limit is 120"),
        ({"seeds": [1], "id": "mine"}, "not a compare field"),
        ({"seeds": [1], "steps": 0}, "'steps'"),
        ({"seeds": [1], "workflow": "nope"}, "unknown workflow"),
    ],
)
def test_bad_compare_input_is_invalid_params(worker: ThreadWorker, fields: dict[str, Any], says: str) -> None:
    client = worker.client()
    with pytest.raises(ClientError) as caught:
        client.call("compare", prompt="knight", **fields)
    assert caught.value.code == "invalid_params" and says in caught.value.message
    assert client.call("list_jobs")["total"] == 0  # nothing half-made
    assert client.ping()["type"] == "pong"


def test_a_group_id_whose_job_ids_are_taken_is_refused_whole(worker: ThreadWorker) -> None:
    client = worker.client()
    client.submit("alone", id="taken-2", **SMALL)
    with pytest.raises(ClientError) as caught:
        client.compare("knight", group_id="taken", seeds=[1, 2], **SMALL)
    assert caught.value.code == "invalid_params" and "taken-2" in caught.value.message
    assert client.call("list_jobs")["total"] == 1
    with pytest.raises(ClientError) as unknown:
        client.call("group", group_id="taken")
    assert unknown.value.code == "not_found"


def test_a_failed_job_gets_a_labelled_empty_cell(tmp_path: Path) -> None:
    image = next((FIXTURES / "output").glob("*.png"))
    cells = [Cell("m", 1, JobState.DONE, image), Cell("m", 2, JobState.FAILED, None), Cell("n", 1, "done", None)]
    sheet = render_sheet(cells, tmp_path / "g" / "contact_sheet.png")
    with Image.open(sheet) as drawn:
        assert drawn.size == sheet_size(2, 2)
    assert not list((tmp_path / "g").glob(".*partial"))


def test_a_schema_1_database_gets_the_group_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(SCHEMA.replace(",\n    group_id TEXT                       -- the compare group, or NULL", ""))
    old.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    old.close()
    store = JobStore(path)
    try:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert store.page(None, 10, 0, group_id="g") == ([], 0)
    finally:
        store.close()
    columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(jobs)")}
    assert "group_id" in columns


def test_the_compare_command_waits_for_the_group_and_prints_the_sheet(
    two_models: ThreadWorker, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["compare", "a knight", "--models", f"{MODEL_A},{MODEL_B}", "--seeds", "3", "--group-id", "cli"]
    argv += ["--size", "64x64", "--steps", "8", "--wait", "--req-addr", two_models.req, "--pub-addr", two_models.pub]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "group cli: cli-1 cli-2" in out
    assert f"contact sheet: {two_models.output_dir.resolve() / 'cli' / 'contact_sheet.png'}" in out
    assert main(argv) == 0  # again: the same group, ended, its sheet at once
    assert "group cli (existing)" in capsys.readouterr().out


def test_every_job_of_a_group_gets_the_loras_and_parameters_generate_would(worker: ThreadWorker, replay) -> None:
    client = worker.client()
    wait_for(lambda: client.call("list_models")["models"], what="the worker to learn the replay's models")
    lora = [{"name": "style.safetensors", "strength": 0.5}]
    answer = client.compare("knight", group_id="styled", seeds=[1, 2], workflow="sprite_lora", loras=lora, **SMALL)
    for job_id in answer["job_ids"]:
        wait_for(lambda job_id=job_id: client.status(job_id)["state"] in TERMINAL_STATES, 15, f"{job_id} to end")
        job = client.status(job_id)
        assert job["state"] == "done" and job["params"]["loras"] == lora
        graph = replay.call(lambda state, prompt_id=job["prompt_id"]: state.history[prompt_id]["prompt"][2])
        assert "style.safetensors" in [
            n["inputs"]["lora_name"] for n in graph.values() if n["class_type"] == "LoraLoader"
        ]
