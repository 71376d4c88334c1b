"""The replay server as one GPU of a pool: its own checkpoints, a speed factor, a model-switch cost (real HTTP).

Times are read from the server's own record of each prompt (/replay/stats "runs": when it started, when its
model was in place, when it ended), never from sleeps in the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
import requests

from pixflow.comfy.client import ComfyClient, PromptRejected
from pixflow.replay.models import STAND_IN_LORAS, BackendProfile
from pixflow.replay.pool import ReplayPool
from pixflow.replay.server import ReplayServer
from pixflow.testing import free_tcp
from tests.helpers import FIXTURES, RECORDED, REPO, wait_for

GRAPH = json.loads((REPO / "workflows" / "txt2img.json").read_text())


def graph_for(checkpoint: str) -> dict[str, Any]:
    graph = json.loads(json.dumps(GRAPH))
    graph["4"]["inputs"]["ckpt_name"] = checkpoint
    return graph


def post(url: str, checkpoint: str) -> requests.Response:
    body = {"prompt": graph_for(checkpoint), "prompt_id": str(uuid.uuid4())}
    return requests.post(f"{url}/prompt", json=body, timeout=5)


def stats(url: str) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(f"{url}/replay/stats", timeout=5).json()
    return answer


def run_all(url: str, checkpoints: list[str]) -> list[dict[str, Any]]:
    """Post one prompt per checkpoint, in order, and return the server's records once all have ended."""
    for checkpoint in checkpoints:
        assert post(url, checkpoint).status_code == 200
    wait_for(lambda: stats(url)["prompts_run"] == len(checkpoints), 20, "the prompts to run")
    runs: list[dict[str, Any]] = stats(url)["runs"]
    return runs


def test_the_checkpoint_list_shows_in_object_info_and_models():
    profile = BackendProfile(checkpoints=("a.safetensors", "b.safetensors"))
    with ReplayServer(RECORDED, default="txt2img_cached", profile=profile) as server:
        info = requests.get(f"{server.url}/object_info", timeout=5).json()
        for loader in ("CheckpointLoaderSimple", "CheckpointLoader"):
            assert info[loader]["input"]["required"]["ckpt_name"][0] == ["a.safetensors", "b.safetensors"]
        assert info["LoraLoader"]["input"]["required"]["lora_name"][0] == list(STAND_IN_LORAS)  # not checkpoints
        one = requests.get(f"{server.url}/api/object_info/CheckpointLoaderSimple", timeout=5).json()
        assert one["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == ["a.safetensors", "b.safetensors"]
        for prefix in ("", "/api"):
            listed = requests.get(f"{server.url}{prefix}/models/checkpoints", timeout=5).json()
            assert listed == ["a.safetensors", "b.safetensors"]
        with ComfyClient(server.url) as comfy:  # what pixflow's backend thread reads
            assert comfy.checkpoints() == ["a.safetensors", "b.safetensors"]
        assert stats(server.url)["checkpoints"] == ["a.safetensors", "b.safetensors"]


def test_without_a_list_the_fixture_checkpoints_stay():
    with ReplayServer(FIXTURES) as server:
        assert requests.get(f"{server.url}/models/checkpoints", timeout=5).json() == ["tiny-sd15.safetensors"]


def _shape(value: Any) -> Any:
    """The keys of a JSON body, nested, without the values: what a client can rely on."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [_shape(value[0])]
    return type(value).__name__


def test_an_unknown_checkpoint_is_refused_with_comfyuis_validation_error():
    recorded_line = (FIXTURES / "validation_error.jsonl").read_text().splitlines()[0]
    recorded = json.loads(recorded_line)["data"]["body"]
    profile = BackendProfile(checkpoints=("a.safetensors", "b.safetensors"))
    with ReplayServer(FIXTURES, default="cached_all", profile=profile) as server:
        answer = post(server.url, "c.safetensors")
        assert answer.status_code == 400
        body = answer.json()
        assert _shape(body) == _shape(recorded)
        error = body["node_errors"]["4"]["errors"][0]
        assert error["type"] == "value_not_in_list"
        assert error["details"] == "ckpt_name: 'c.safetensors' not in ['a.safetensors', 'b.safetensors']"
        assert error["extra_info"]["received_value"] == "c.safetensors"
        assert error["extra_info"]["input_config"][0] == ["a.safetensors", "b.safetensors"]
        assert body["node_errors"]["4"]["dependent_outputs"] == ["9"]
        assert body["node_errors"]["4"]["class_type"] == "CheckpointLoaderSimple"
        with ComfyClient(server.url) as comfy:  # pixflow reads it as a rejection, as it reads ComfyUI's
            rejected = comfy.submit(graph_for("c.safetensors"), str(uuid.uuid4()), "test")
        assert isinstance(rejected, PromptRejected)
        after = stats(server.url)
        assert after["runs"] == [] and after["prompts_run"] == 0  # never queued
        assert post(server.url, "b.safetensors").status_code == 200


def test_the_switch_cost_delays_the_first_prompt_after_a_change_only():
    cost = 0.3
    profile = BackendProfile(checkpoints=("a", "b"), switch_cost=cost)
    with ReplayServer(FIXTURES, default="cached_all", profile=profile) as server:
        runs = run_all(server.url, ["a", "a", "b", "b", "a"])
        loading = [run["loaded"] - run["started"] for run in runs]
        assert [run["switched"] for run in runs] == [True, False, True, False, True]
        for seconds, switched in zip(loading, [True, False, True, False, True], strict=True):
            if switched:
                assert seconds >= cost
            else:
                assert seconds < cost / 3  # nothing to wait for: the model is in place
        after = stats(server.url)
        assert after["model_loads"] == 3  # the first load, a → b, b → a
        assert after["model_switches"] == 2
        assert after["loaded"] == "a" and after["prompts_run"] == 5


def test_a_checkpoint_loaded_at_start_costs_nothing():
    profile = BackendProfile(checkpoints=("a", "b"), switch_cost=5.0, loaded="a")
    with ReplayServer(FIXTURES, default="cached_all", profile=profile) as server:
        (run,) = run_all(server.url, ["a"])
        assert not run["switched"] and stats(server.url)["model_loads"] == 0


def test_the_speed_factor_scales_the_added_work():
    work = 0.1
    profiles = [BackendProfile(run_seconds=work), BackendProfile(run_seconds=work, speed_factor=3)]
    with ReplayPool(FIXTURES, profiles, default="cached_all") as pool:
        lengths = []
        for server in pool:
            (run,) = run_all(server.url, ["tiny-sd15.safetensors"])
            lengths.append(run["ended"] - run["loaded"])
    assert work <= lengths[0] < 3 * work
    assert 3 * work <= lengths[1] < 3 * work + 2 * work


def test_the_speed_factor_scales_recorded_timing():
    speed = 8.0  # the recording's ~1.6 s of work plays in ~0.2 s
    recorded = ReplayServer(FIXTURES).recordings["fresh"]
    starts = [i for i, f in enumerate(recorded.frames) if f.text and '"execution_start"' in f.text]
    after_start = sum(frame.delay for frame in recorded.frames[starts[0] + 1 :]) / speed
    with ReplayServer(FIXTURES, default="fresh", speed=speed, profile=BackendProfile(speed_factor=3)) as server:
        (run,) = run_all(server.url, ["tiny-sd15.safetensors"])
    assert run["ended"] - run["started"] >= 3 * after_start


def test_a_pool_starts_servers_with_their_own_profiles():
    profiles = [BackendProfile(("a", "b")), BackendProfile(("b", "c"), speed_factor=3), BackendProfile(("c",))]
    with ReplayPool(FIXTURES, profiles, default="cached_all") as pool:
        assert len(set(pool.urls)) == 3
        listed = [requests.get(f"{url}/models/checkpoints", timeout=5).json() for url in pool.urls]
        assert listed == [["a", "b"], ["b", "c"], ["c"]]
        assert stats(pool.urls[1])["profile"]["speed_factor"] == 3
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{pool.urls[0]}/system_stats", timeout=5)


def test_bad_profiles_are_refused():
    with pytest.raises(ValueError):
        BackendProfile(speed_factor=0)
    with pytest.raises(ValueError):
        BackendProfile(switch_cost=-1)


def test_the_replay_command_takes_the_profile_flags():
    port = int(free_tcp().rsplit(":", 1)[1])
    command = [sys.executable, "-m", "pixflow", "replay", "--port", str(port), "--speed", "0"]
    command += ["--checkpoints", "a,b", "--speed-factor", "3", "--switch-cost", "2", "--run-seconds", "0.1"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        answer = wait_for(lambda: _stats_or_none(url), 20, "the replay command to listen")
        assert answer["checkpoints"] == ["a", "b"]
        assert answer["profile"] == {
            "checkpoints": ["a", "b"],
            "speed_factor": 3.0,
            "switch_cost": 2.0,
            "run_seconds": 0.1,
            "loaded": None,
            "loras": None,  # the recorded list and the stand-in's own
        }
        assert answer["loras"] == list(STAND_IN_LORAS)
    finally:
        process.terminate()
        process.wait(10)


def _stats_or_none(url: str) -> dict[str, Any] | None:
    try:
        return stats(url)
    except requests.RequestException:
        return None


def test_the_pool_benchmark_counts_idle_time_only_while_runnable_work_waits():
    from bench.scenarios.pool_metrics import Outcome, merge, overlap
    from bench.scenarios.pool_setup import Gpu, PoolJob

    assert merge([(3, 4), (0, 1), (0.5, 2)]) == [(0, 2), (3, 4)]
    assert overlap([(0, 2), (3, 4)], [(1, 3.5)]) == 1.5
    gpus = (Gpu("x", BackendProfile(("a",))), Gpu("y", BackendProfile(("b",))))
    jobs = [PoolJob("j1", "a", 0, 0), PoolJob("j2", "a", 0, 1), PoolJob("j3", "b", 0, 2)]

    def run(prompt: str, started: float, ended: float) -> dict[str, Any]:
        return {"prompt_id": prompt, "started": started, "loaded": started, "ended": ended}

    # x runs j1 over 0-1 and j2 over 3-4 (idle 1-3 while j2 waits); y runs j3 over 0-1, then has nothing to do.
    stats = [{"runs": [run("p1", 0, 1), run("p2", 3, 4)]}, {"runs": [run("p3", 0, 1)]}]
    outcome = Outcome("test", jobs, dict.fromkeys(("j1", "j2", "j3"), 0.0), {"j1": "p1", "j2": "p2", "j3": "p3"}, stats)
    assert outcome.makespan() == 4
    assert outcome.idle_shares(gpus) == [0.5, 0.0]
    assert sorted(outcome.queue_waits()) == [0, 0, 3]
