"""The monitor's workflows screen (key w): each workflow's parameters as the worker types them."""

from __future__ import annotations

from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from pixflow_monitor import commands
from pixflow_monitor.app import MonitorApp
from pixflow_monitor.link import ZmqLink
from pixflow_monitor.workflows_view import allowed
from tests.monitor.monitor_fakes import run_pilot, until


def test_w_shows_every_workflow_with_its_typed_parameters(worker):
    app = MonitorApp(ZmqLink(worker.req, worker.pub, timeout=2.0, heartbeat=0.2))

    async def scenario(pilot: Pilot) -> None:
        await until(pilot, lambda: app.link_state == "up", what="the monitor to connect")
        await pilot.press("w")
        await until(pilot, lambda: type(app.screen).__name__ == "WorkflowsScreen", what="the workflows screen")
        content = app.screen.query_one("#workflows-text", Static).content
        text = content.plain if isinstance(content, Text) else str(content)
        assert "sprite  Pixel-art sprite" in text and "runs on: local" in text
        assert "params.grid  INT 8..256  default 32" in text
        assert "params.dither  COMBO one of none, ordered" in text
        assert "images.reference  image (required)" in text and "loras  up to 4 LoRAs" in text
        assert "sampler  COMBO one of euler, euler_cfg_pp" in text and "size  SIZE 16..2048 step 8" in text
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ != "WorkflowsScreen", what="the screen to close")

    run_pilot(app, scenario)


def test_what_a_parameter_takes_in_a_few_words():
    assert allowed({"kind": "INT", "min": 8, "max": 256, "step": 1, "choices": None}) == "8..256"
    assert allowed({"kind": "FLOAT", "min": 0.0, "max": 1.0, "step": 0.01, "choices": None}) == "0..1 step 0.01"
    assert allowed({"kind": "STRING", "min": None, "max": None, "step": None, "choices": None}) == "text"
    # A seed's range in full, not `0..1.84467e+19`.
    assert allowed({"kind": "INT", "min": 0, "max": 2**64 - 1, "step": None, "choices": None}) == f"0..{2**64 - 1}"
    assert allowed({"kind": "COMBO", "choices": []}) == "no choice offered by any backend"
    assert allowed({"kind": "COMBO", "choices": list("abcdefghij")}).endswith("h … (10 in all)")


def test_a_retry_sends_the_workflows_own_parameters_and_loras_again():
    snapshot = {
        "job_id": "j1",
        "workflow": "sprite",
        "params": {"prompt": "knight", "params": {"grid": 16}, "loras": [{"name": "x", "strength": 1.0}]},
    }
    request = commands.retry_generate(snapshot, "j1-retry")
    assert request.fields["params"] == {"grid": 16} and request.fields["loras"] == [{"name": "x", "strength": 1.0}]
