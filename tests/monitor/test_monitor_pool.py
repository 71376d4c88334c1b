"""pixflow-monitor's view of the backend pool without a screen: backend states, their log lines, the panel's text,
the drain/disable/enable requests and their answers, a queued job's wait_reason."""

from __future__ import annotations

import pytest

from pixflow_monitor import commands
from pixflow_monitor.backend_text import backend_text, choice_text, load_text, rate_text, state_text
from pixflow_monitor.clock import FrozenClock
from pixflow_monitor.detail_text import wait_text
from pixflow_monitor.model import MonitorModel
from pixflow_monitor.pool import backend_news, backend_state
from tests.monitor.monitor_fakes import RUN, T0, backend_figures, snapshot

OLD_WORKER = {"name": "local", "url": "http://127.0.0.1:8188", "up": True, "reason": None, "version": "0.3.75"}
REASON = "every backend that can run it is down or not taking jobs: gpu1 draining"


def test_a_backends_state_is_its_own_word_or_from_an_older_worker_its_health():
    assert backend_state(backend_figures(state="draining")) == "draining"
    assert backend_state(OLD_WORKER) == "up"
    assert backend_state({**OLD_WORKER, "up": False}) == "down"


def test_state_changes_are_news_and_figures_alone_are_not():
    up = backend_figures("gpu1")
    draining = {**up, "state": "draining", "mode": "draining"}
    assert backend_news("gpu1", None, up) == [("backend gpu1 up (ComfyUI 0.3.75)", "info")]
    assert backend_news("gpu1", up, {**up, "inflight": 2, "queue_remaining": 4}) == []
    assert backend_news("gpu1", up, draining) == [("backend gpu1 is draining (mode draining)", "warning")]
    assert backend_news("gpu1", draining, up) == [("backend gpu1 is up (mode active)", "info")]
    assert backend_news("gpu1", None, draining) == [
        ("backend gpu1 up (ComfyUI 0.3.75)", "info"),
        ("backend gpu1 is draining", "warning"),
    ]
    down = {**up, "up": False, "state": "down", "reason": "connection refused"}
    assert backend_news("gpu1", up, down) == [("backend gpu1 DOWN: connection refused", "error")]
    removed = {**up, "state": "removed"}
    assert backend_news("gpu1", up, removed) == [("backend gpu1 removed from the worker's settings", "warning")]


def test_the_model_takes_backend_replies_and_drops_removed_backends():
    model = MonitorModel(FrozenClock(T0))
    model.apply_event("backend.gpu1", {"ts": T0, **backend_figures("gpu1")})
    model.apply_backend_figures(
        {"type": "backend", "v": 1, "req_id": 3, **backend_figures("gpu1", state="disabled", mode="disabled")}
    )
    assert model.backends["gpu1"]["state"] == "disabled" and "type" not in model.backends["gpu1"]
    model.apply_event("backend.gpu1", {"ts": T0, **backend_figures("gpu1", state="removed")})
    assert "gpu1" not in model.backends and "backends" in model.changed_panels
    assert [entry.text for entry in model.take_log()] == [
        "backend gpu1 up (ComfyUI 0.3.75)",
        "backend gpu1 is disabled (mode disabled)",
        "backend gpu1 removed from the worker's settings",
    ]


def test_a_queued_jobs_wait_reason_comes_from_its_snapshot_and_goes_when_it_runs():
    model = MonitorModel(FrozenClock(T0))
    job = model.apply_snapshot(snapshot("a", "knight", T0, [], progress=None, wait_reason=REASON))
    assert job is not None and job.wait_reason == REASON
    assert wait_text(job) is not None and wait_text(job).plain == REASON  # type: ignore[union-attr]
    model.apply_event(
        "job.state.a", {"ts": T0 + 5, "job_id": "a", "seq": 2, "from": "queued", "to": "loading", "backend": "gpu1"}
    )
    assert job.wait_reason is None and wait_text(job) is None and job.backend == "gpu1"
    older = snapshot("b", "knight", T0, RUN[:1])  # a worker without a pool sends no wait_reason
    assert wait_text(model.apply_snapshot(older)) is None  # type: ignore[arg-type]


def test_the_panel_shows_state_model_load_and_speed():
    gpu1 = backend_figures(
        "gpu1",
        state="draining",
        mode="draining",
        loaded_model="b.safetensors",
        inflight=1,
        max_inflight=1,
        queue_remaining=2,
        seconds_per_job=2.345,
    )
    assert backend_text("gpu1", gpu1).plain.splitlines() == [
        "gpu1  ◐ draining  ComfyUI 0.3.75",
        "  b.safetensors · 2.35 s/job",
        "  inflight 1/1 · ComfyUI queue 2",
        "  http://127.0.0.1:8188 · 1 model",
    ]
    down = backend_figures("gpu2", up=False, mode="disabled", loaded_model=None, seconds_per_job=None)
    assert backend_text("gpu2", down).plain.splitlines() == [
        "gpu2  ✖ down · disabled  ComfyUI 0.3.75",
        "  no model loaded · — s/job",
        "  inflight 0/2 · ComfyUI queue 0",
        "  connection refused",
    ]
    assert "gpu1" in choice_text("gpu1", gpu1).plain and "inflight 1/1" in choice_text("gpu1", gpu1).plain


def test_what_an_older_worker_does_not_send_is_shown_unknown():
    assert load_text(OLD_WORKER) == "inflight ?/? · ComfyUI queue ?"
    assert state_text(OLD_WORKER).plain == "● up"
    assert [rate_text(value) for value in (None, 0, True, 0.5, 42.4)] == [
        "— s/job",
        "— s/job",
        "— s/job",
        "0.50 s/job",
        "42 s/job",
    ]


def test_backend_requests_name_the_backend_and_answers_are_phrased_from_its_figures():
    request = commands.backend_mode("drain", "gpu1")
    assert (request.kind, request.fields, request.purpose) == ("drain", {"backend": "gpu1"}, "action.drain")
    reply = {"type": "backend", "v": 1, **backend_figures("gpu1", state="draining", mode="draining", inflight=1)}
    assert commands.describe(request, reply) == (
        "drain gpu1: the worker answered: gpu1 is draining (mode draining), 1 in flight, ComfyUI queue 0",
        "information",
    )
    forbidden = {"type": "error", "code": "forbidden", "message": "'drain' needs the role admin"}
    assert commands.describe(commands.backend_mode("enable", "gpu1"), forbidden) == (
        "enable gpu1: the worker answered forbidden: 'drain' needs the role admin",
        "error",
    )
    assert commands.describe_failure(commands.backend_mode("disable", "gpu1"), "timeout", "no reply")[0] == (
        "disable gpu1: no answer (timeout: no reply)"
    )
    with pytest.raises(ValueError):
        commands.backend_mode("pause", "gpu1")
