"""The client commands as a new user meets them, against a real worker on the replay server: addresses from the
environment, readable `status`, `jobs`, the switches, `retry`, and what `submit` says and refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixflow.cli.client_args import connectable
from pixflow.cli.main import build_parser, main
from pixflow.testing import free_tcp
from tests.helpers import play_next, run_job, wait_for


def _at(worker, *args: str) -> list[str]:
    return [*args, "--req-addr", worker.req, "--pub-addr", worker.pub]


def _run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_addresses_come_from_the_environment_and_a_flag_beats_it(worker, capsys, monkeypatch):
    monkeypatch.setenv("PIXFLOW_REQ_ADDR", worker.req)
    monkeypatch.setenv("PIXFLOW_PUB_ADDR", worker.pub)
    code, out, _ = _run(capsys, "status")
    assert code == 0 and "dispatch: running" in out.splitlines(), out
    assert any(line.startswith("  local: up, active, 0/2 in flight") for line in out.splitlines()), out
    monkeypatch.setenv("PIXFLOW_REQ_ADDR", free_tcp())  # nothing there: the flag must win
    code, out, _ = _run(capsys, "status", "--json", "--req-addr", worker.req, "--timeout", "2")
    assert code == 0 and json.loads(out)["type"] == "worker"


def test_a_bind_everywhere_address_is_connected_to_on_loopback():
    assert connectable("tcp://0.0.0.0:6000") == "tcp://127.0.0.1:6000"
    assert connectable("tcp://*:6000") == "tcp://127.0.0.1:6000"
    assert connectable("tcp://[::]:6000") == "tcp://[::1]:6000"
    assert connectable("tcp://gpu-box:6000") == "tcp://gpu-box:6000"
    assert connectable("ipc:///tmp/pixflow.sock") == "ipc:///tmp/pixflow.sock"


def test_help_lists_every_command():
    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command").choices
    assert {"keys", "record", "compare", "jobs", "retry", "pause", "drain"} <= set(commands)
    for name in commands:
        assert name in parser.description, name


def test_jobs_lists_newest_first_with_whole_ids_and_pages(worker, capsys):
    client = worker.client()
    run_job(client, "cmp-group-with-a-long-id-1")
    run_job(client, "cmp-group-with-a-long-id-2")
    code, out, _ = _run(capsys, *_at(worker, "jobs", "--limit", "1"))
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["ID", "STATE", "STAGE", "BACKEND", "PROMPT"]
    assert lines[1].split()[:2] == ["cmp-group-with-a-long-id-2", "done"]
    assert lines[-1] == "1 of 2 matching (from 1); next page: --before cmp-group-with-a-long-id-2"
    code, out, _ = _run(capsys, *_at(worker, "jobs", "--before", "cmp-group-with-a-long-id-2", "--json"))
    page = json.loads(out)
    assert [job["job_id"] for job in page["jobs"]] == ["cmp-group-with-a-long-id-1"] and page["next"] is None
    code, out, _ = _run(capsys, *_at(worker, "jobs", "--state", "failed,cancelled"))
    assert out.startswith("no jobs (0 match)")


def test_pause_resume_drain_enable_from_the_shell(worker, capsys):
    client = worker.client()
    assert _run(capsys, *_at(worker, "pause"))[1] == "dispatch paused\n"
    assert client.status()["paused"] is True
    assert _run(capsys, *_at(worker, "resume"))[1] == "dispatch running\n"
    assert _run(capsys, *_at(worker, "drain", "local"))[1] == "backend local: draining (mode draining)\n"
    assert client.status()["backends"][0]["mode"] == "draining"
    assert _run(capsys, *_at(worker, "disable", "local"))[1].startswith("backend local: disabled")
    assert _run(capsys, *_at(worker, "enable", "local"))[1].startswith("backend local: up (mode active)")
    code, _, err = _run(capsys, *_at(worker, "drain", "gpu9"))
    assert code == 2 and err.rstrip().endswith("(not_found)")


def test_retry_sends_a_failed_jobs_request_again_as_a_new_job(worker, replay, capsys):
    client = worker.client()
    play_next(replay, "runtime_error")
    events = run_job(client, "broken", seed=77, steps=8)
    assert events[-1][1]["to"] == "failed"
    code, out, err = _run(capsys, *_at(worker, "retry", "broken", "--id", "broken-again"))
    assert code == 0 and out == "broken-again\n" and "retrying broken (failed) as broken-again" in err
    again = wait_for(lambda: (job := client.status("broken-again"))["state"] == "done" and job, 10, "the retry")
    old = client.status("broken")["params"]
    assert {k: again["params"][k] for k in ("prompt", "seed", "steps", "size")} == {
        k: old[k] for k in ("prompt", "seed", "steps", "size")
    }
    code, _, err = _run(capsys, *_at(worker, "retry", "broken-again"))
    assert code == 2 and "is done, not failed or cancelled" in err and err.rstrip().endswith("(not_retryable)")
    code, out, _ = _run(capsys, *_at(worker, "retry", "broken-again", "--force", "--new-seed"))
    assert code == 0 and client.status(out.strip())["params"]["prompt"] == old["prompt"]


def test_submit_previews_and_download_without_wait_waits_for_the_files(worker, capsys, tmp_path: Path):
    code, out, _ = _run(
        capsys, *_at(worker, "submit", "knight", "--size", "64x64", "--steps", "8", "--id", "dl-1", "--previews",
                     "--download", str(tmp_path / "got"))
    )  # fmt: skip
    assert code == 0, out
    assert worker.client().status("dl-1")["params"]["previews"] is True
    assert [path.name for path in (tmp_path / "got").iterdir()] == ["dl-1_00.png"]
    assert f"downloaded {tmp_path / 'got' / 'dl-1_00.png'}" in out


def test_submitting_a_known_id_with_other_parameters_says_they_were_not_used(worker, capsys):
    run_job(worker.client(), "known", steps=8)
    code, out, err = _run(capsys, *_at(worker, "submit", "a dragon", "--id", "known", "--steps", "12"))
    assert code == 0 and out == "known\n"
    assert "job known already exists (state done); this request's parameters were not used" in err
    assert "(prompt, steps differ)" in err


@pytest.mark.parametrize("argv", [["--size", "-64x64"], ["--size=-64x64"], ["--size", "64"], ["--size", "0x64"]])
def test_a_bad_size_names_the_value_and_the_form(capsys, argv):
    with pytest.raises(SystemExit) as ended:
        main(["submit", "knight", *argv])
    err = capsys.readouterr().err
    assert ended.value.code == 2 and "argument --size:" in err and "WIDTHxHEIGHT" in err, err
    assert repr(argv[-1].removeprefix("--size=")) in err and "expected one argument" not in err


def test_every_submit_option_says_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["submit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--model", "--size", "--steps", "--cfg-scale", "--seed", "--sampler", "--scheduler", "--priority"):
        start = text.index(f"{option} ", text.index("options:"))
        assert "default" in text[start : start + 160], option
