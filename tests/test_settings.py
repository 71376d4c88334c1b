"""Every setting is checked when loaded; `pixflow config check` and `pixflow config show` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

import pixflow.settings.rules as config_rules
from pixflow.errors import SettingError
from pixflow.settings import Settings, load_settings
from tests.helpers import REPO

PIXFLOW = [sys.executable, "-m", "pixflow.cli"]


def test_every_setting_has_a_rule():
    assert {f.name for f in fields(Settings)} == {*config_rules.RULES, *config_rules.STRUCTURED}


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("max_inflight", 0, "a whole number of at least 1"),  # used to load, and then nothing was ever dispatched
        ("max_inflight", 2.5, "a whole number"),
        ("max_inflight", True, "a whole number"),
        ("max_queued", None, "a whole number"),
        ("http_timeout", 0, "more than 0"),
        ("stall_timeout", -1, "more than 0"),
        ("http_timeout", "nan", "more than 0"),
        ("shutdown_grace", -0.5, "at least 0"),
        ("req_addr", "127.0.0.1:5555", "tcp://HOST:PORT"),
        ("pub_addr", "tcp://127.0.0.1:99999", "tcp://HOST:PORT"),
        ("metrics_addr", "9464", "HOST:PORT"),
        ("log_level", "LOUD", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("log_format", "xml", "one of plain, json"),
        ("db_synchronous", "SOMETIMES", "one of OFF, NORMAL, FULL, EXTRA"),
        ("insecure", "maybe", "true or false"),
        ("default_workflow", "", "a non-empty name"),
        ("output_dir", {"a": 1}, "a file path"),
        ("comfyui_url", "localhost:8188", "an http:// or https:// URL"),
        ("comfyui_url", "http://127.0.0.1:port", "an http:// or https:// URL"),
    ],
)
def test_a_value_that_is_not_allowed_names_the_key_the_value_and_what_is_allowed(tmp_path, key, value, allowed):
    config = tmp_path / "bad.yaml"
    config.write_text(json.dumps({key: value}))  # JSON is YAML
    with pytest.raises(SettingError) as refused:
        load_settings(config, environ={})
    message = str(refused.value)
    assert f"'{key}'" in message and repr(value) in message and allowed in message, message
    assert f"file {config}" in message and refused.value.code == "invalid_setting"


def test_the_environment_and_flags_are_checked_too_and_say_where_the_value_came_from():
    with pytest.raises(SettingError, match=r"'max_inflight': '0' \(from environment PIXFLOW_MAX_INFLIGHT\)"):
        load_settings(None, environ={"PIXFLOW_MAX_INFLIGHT": "0"})
    with pytest.raises(SettingError, match=r"'log_level': 'chatty' \(from flag\)"):
        load_settings(None, {"log_level": "chatty"}, environ={})


def test_values_are_converted_to_their_types(tmp_path):
    environ = {"PIXFLOW_MAX_INFLIGHT": " 3 ", "PIXFLOW_INSECURE": "yes", "PIXFLOW_LOG_LEVEL": "debug"}
    settings = load_settings(None, {"http_timeout": "2.5", "max_queued": 5.0}, environ=environ)
    assert (settings.max_inflight, settings.insecure, settings.log_level) == (3, True, "DEBUG")
    assert (settings.http_timeout, settings.max_queued) == (2.5, 5)
    config = tmp_path / "s.yaml"
    config.write_text("metrics_addr:\ncurve_secret_key:\nreq_addr: ipc:///tmp/pixflow.sock\npub_addr: tcp://*:*\n")
    settings = load_settings(config, environ={})
    assert (settings.metrics_addr, settings.curve_secret_key) == ("", None)
    assert settings.req_addr == "ipc:///tmp/pixflow.sock" and settings.pub_addr == "tcp://*:*"


def test_an_unknown_key_names_the_closest_known_one(tmp_path):
    config = tmp_path / "typo.yaml"
    config.write_text("max_inflights: 3\n")
    with pytest.raises(SettingError, match=r"unknown setting 'max_inflights' .*did you mean 'max_inflight'\?") as e:
        load_settings(config, environ={})
    assert e.value.code == "unknown_setting" and e.value.key == "max_inflights"
    config.write_text("colour: blue\n")
    with pytest.raises(SettingError, match=r"unknown setting 'colour'.*known: backends, cancel_timeout"):
        load_settings(config, environ={})


def test_a_backend_url_is_checked(tmp_path):
    config = tmp_path / "pool.yaml"
    config.write_text("backends:\n  - {name: a, url: 'http://127.0.0.1:8188'}\n  - {name: b, url: 'ftp://x'}\n")
    with pytest.raises(SettingError, match=r"'backends\[b\].url': 'ftp://x'"):
        load_settings(config, environ={})


def _pixflow(*args: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXFLOW_")}
    env.update({"PYTHONPATH": str(REPO), **(environ or {})})
    return subprocess.run([*PIXFLOW, *args], env=env, capture_output=True, text=True, timeout=60)


def test_config_check_exits_0_for_a_good_file_and_2_with_the_reason_for_a_bad_one(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text("comfyui_url: http://gpu-box:8188\nmax_inflight: 1\n")
    result = _pixflow("config", "check", str(good))
    assert result.returncode == 0 and "ok (2 settings" in result.stdout, result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_inflight: 0\n")
    result = _pixflow("config", "check", str(bad))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("pixflow: setting 'max_inflight': 0 (from file ")
    assert result.stderr.rstrip().endswith("(invalid_setting)") and "Traceback" not in result.stderr


def test_config_show_says_where_each_setting_came_from(tmp_path: Path):
    config = tmp_path / "s.yaml"
    config.write_text("max_inflight: 1\nhttp_timeout: 4\n")
    result = _pixflow(
        "config", "show", "--config", str(config), "--log-level", "DEBUG", "--json",
        environ={"PIXFLOW_HTTP_TIMEOUT": "7"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["max_inflight"] == {"value": 1, "source": f"file {config}"}
    assert shown["http_timeout"] == {"value": 7.0, "source": "environment PIXFLOW_HTTP_TIMEOUT"}
    assert shown["log_level"] == {"value": "DEBUG", "source": "flag"}
    assert shown["stall_timeout"] == {"value": 30.0, "source": "default"}
    assert Path(shown["workflows_dir"]["value"], "txt2img.yaml").is_file()
    lines = _pixflow("config", "show").stdout.splitlines()
    assert any(line.split() == ["max_inflight", "2", "(default)"] for line in lines), lines


def test_config_check_reports_every_problem_not_only_the_first(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_inflight: 0\nlog_level: LOUD\ncolour: blue\n")
    result = _pixflow("config", "check", str(bad))
    assert result.returncode == 2 and result.stderr.startswith("pixflow: 3 problems:\n"), result.stderr
    for key in ("'max_inflight'", "'log_level'", "unknown setting 'colour'"):
        assert key in result.stderr, key
    assert result.stderr.rstrip().endswith("(invalid_config)") and "Traceback" not in result.stderr


def test_config_check_refuses_a_network_address_without_keys_as_serve_does(tmp_path: Path):
    exposed = tmp_path / "exposed.yaml"
    exposed.write_text("req_addr: tcp://0.0.0.0:5555\n")
    result = _pixflow("config", "check", str(exposed))
    assert result.returncode == 2 and "refusing to bind requests tcp://0.0.0.0:5555 without CURVE keys" in result.stderr
    serve = _pixflow("serve", "--config", str(exposed), environ={"PIXFLOW_DB_PATH": str(tmp_path / "x.db")})
    assert serve.returncode == 2 and "refusing to bind requests tcp://0.0.0.0:5555" in serve.stderr  # the same check
    exposed.write_text("req_addr: tcp://0.0.0.0:5555\ninsecure: true\n")
    assert _pixflow("config", "check", str(exposed)).returncode == 0
    halves = tmp_path / "halves.yaml"
    halves.write_text(f"curve_clients_dir: {tmp_path}\n")
    result = _pixflow("config", "check", str(halves))
    assert result.returncode == 2 and "CURVE needs both curve_secret_key and curve_clients_dir" in result.stderr


def test_config_check_reads_the_environment_as_serve_does_unless_told_not_to(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text("max_inflight: 1\n")
    result = _pixflow("config", "check", str(good), environ={"PIXFLOW_HTTP_TIMEOUT": "0"})
    assert result.returncode == 2 and "(from environment PIXFLOW_HTTP_TIMEOUT)" in result.stderr
    result = _pixflow("config", "check", str(good), environ={"PIXFLOW_HTTP_TIMEOUT": "3"})
    assert result.returncode == 0 and "ok (2 settings, 1 from PIXFLOW_* variables" in result.stdout
    result = _pixflow("config", "check", "--no-env", str(good), environ={"PIXFLOW_HTTP_TIMEOUT": "0"})
    assert result.returncode == 0 and "ok (1 setting;" in result.stdout


def test_a_yaml_error_names_the_file(tmp_path: Path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("max_inflight: [1\n")
    result = _pixflow("config", "check", str(broken))
    assert result.returncode == 2 and f"config file {broken} is not valid YAML" in result.stderr
    assert f'in "{broken}", line' in result.stderr and "<unicode string>" not in result.stderr


def test_output_to_a_reader_that_went_away_ends_quietly(tmp_path: Path):
    """`pixflow config show --json | head -1`: no BrokenPipeError traceback; exit 141 like `cat` would."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before a byte is written
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PIXFLOW_")}, "PYTHONPATH": str(REPO)}
    try:
        result = subprocess.run(
            [*PIXFLOW, "config", "show", "--json"], stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=60
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141 and result.stderr == b"", result.stderr.decode()
