"""The monitor on another host than the worker: CURVE keys on both sockets, output images fetched over the wire."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from textual.pilot import Pilot

from pixflow.client.keys import ENV_CLIENT_KEY, ENV_SERVER_KEY, client_keys
from pixflow_monitor.app import MonitorApp
from pixflow_monitor.entry import main
from pixflow_monitor.link import ZmqLink
from pixflow_monitor.messages import EventsReceived, LinkDown, LinkUp, ReplyReceived
from pixflow_monitor.request import Request
from pixflow_monitor.widgets.job_detail import FETCH_MAX_SIDE, JobDetail
from pixflow_monitor.widgets.pixel_image import PixelImage
from tests.helpers import run_job, wait_for
from tests.monitor.monitor_fakes import run_pilot, until
from tests.monitor.test_monitor_app import in_sync, plain, select
from tests.monitor.test_monitor_link import running
from tests.test_security import Keys, keys, secured  # noqa: F401


def link_as(worker, keys: Keys, name: str | None, timeout: float = 2.0) -> ZmqLink:  # noqa: F811
    held = client_keys(keys.worker_public, keys.secrets / f"{name}.key_secret", environ={}) if name else None
    return ZmqLink(worker.req, worker.pub, timeout=timeout, heartbeat=0.1, keys=held)


def test_the_link_with_keys_gets_replies_and_events_and_without_keys_nothing(secured, keys):  # noqa: F811
    worker, client = secured
    with running(link_as(worker, keys, "eve")) as posted:  # a viewer is enough to watch
        wait_for(lambda: posted.of(LinkUp), what="the link up over CURVE")
        wait_for(lambda: posted.of(EventsReceived), what="events over CURVE")
        run_job(client("alice"), "remote-1")

        def job_events() -> list:
            return [e for m in posted.of(EventsReceived) for e in m.events if e[1].get("job_id") == "remote-1"]

        wait_for(lambda: any(event.get("to") == "done" for _, event in job_events()), what="the job's events")
        assert not posted.of(LinkDown)
    plain_link = link_as(worker, keys, None, timeout=0.3)
    with running(plain_link) as posted:
        down = wait_for(lambda: posted.of(LinkDown), what="no answer without keys")[0]
        assert worker.req in down.reason
        assert not posted.of(LinkUp) and not posted.of(EventsReceived)


def test_the_link_with_keys_sends_requests(secured, keys):  # noqa: F811
    worker, _ = secured
    link = link_as(worker, keys, "eve")
    with running(link) as posted:
        wait_for(lambda: posted.of(LinkUp), what="the link up over CURVE")
        link.request(Request("status", purpose="test"))
        reply = wait_for(lambda: posted.of(ReplyReceived), what="the status reply")[0]
        assert reply.reply["type"] == "worker" and reply.reply["security"]["curve"] is True


def unreadable(path: str) -> bytes:
    raise FileNotFoundError(2, "No such file or directory", path)


def output_widget(app: MonitorApp) -> PixelImage:
    return app.query_one("#image-output-0", PixelImage)


def test_outputs_not_on_this_disk_are_fetched_over_the_wire(secured, keys):  # noqa: F811
    worker, client = secured
    alice = client("alice")
    run_job(alice, "wire-1")
    expected = alice.fetch_output("wire-1", 0, max_side=FETCH_MAX_SIDE)
    app = MonitorApp(link_as(worker, keys, "alice"), read_output=unreadable)

    async def scenario(pilot: Pilot) -> None:
        await in_sync(pilot, app)
        await select(pilot, app, "wire-1")
        await until(pilot, lambda: output_widget(app)._blocks is not None, what="the fetched image shown")
        assert output_widget(app).display
        text = plain(app, "#detail-outputs")
        assert "fetched from the worker (png" in text and "not readable" not in text
        shown = app.query_one(JobDetail)._outputs[app.model.jobs["wire-1"].outputs[0]["path"]]
        with Image.open(io.BytesIO(expected["image"])) as thumb:
            assert isinstance(shown, Image.Image) and shown.size == thumb.size
            assert shown.convert("RGB").tobytes() == thumb.convert("RGB").tobytes()

    run_pilot(app, scenario)


def test_a_fetch_the_worker_refuses_is_said(secured, keys):  # noqa: F811
    worker, client = secured
    run_job(client("alice"), "wire-2")
    app = MonitorApp(link_as(worker, keys, "eve"), read_output=unreadable)  # a viewer may not fetch

    async def scenario(pilot: Pilot) -> None:
        await in_sync(pilot, app)
        await select(pilot, app, "wire-2")
        await until(pilot, lambda: "forbidden" in plain(app, "#detail-outputs"), what="the refusal shown")
        assert "the worker did not send it: forbidden" in plain(app, "#detail-outputs")
        assert not output_widget(app).display

    run_pilot(app, scenario)


def test_main_refuses_half_a_keypair(keys, monkeypatch, capsys):  # noqa: F811
    monkeypatch.delenv(ENV_CLIENT_KEY, raising=False)
    monkeypatch.setenv(ENV_SERVER_KEY, str(keys.worker_public))
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "CURVE keys" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--client-key", str(Path(keys.secrets) / "missing.key_secret")])
