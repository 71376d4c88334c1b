"""What the worker loop reads and sends itself, against the replay server over loopback: a backend's WebSocket
(comfy/event_socket.py), its HTTP transfers (comfy/loop_http.py) and its control lane (comfy/control_lane.py)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import requests

from pixflow.comfy import commands
from pixflow.comfy import events as ce
from pixflow.comfy.client import FEATURE_FLAGS, Answer, ComfyClient
from pixflow.comfy.control_lane import ControlLane
from pixflow.comfy.event_socket import EventSocket, SocketClosed
from pixflow.comfy.loop_fetch import LoopFetch
from pixflow.comfy.loop_http import LoopHttp
from pixflow.comfy.messages import LoopMessage, OutputsFailed, SubmitFailed, SubmitRejected, Submitted
from pixflow.comfy.transport import Transport
from pixflow.replay.server import ReplayServer
from pixflow.testing import wait_for
from tests.helpers import FIXTURES, REPO
from tests.loop_helpers import LoopDriver

GRAPH = json.loads((REPO / "workflows" / "txt2img.json").read_text())


@pytest.fixture
def replay() -> ReplayServer:
    with ReplayServer(FIXTURES, default="cached_all") as server:
        yield server


@pytest.fixture
def loop() -> LoopDriver:
    return LoopDriver()


def _watch(loop: LoopDriver, events: EventSocket, into: list[ce.ComfyEvent], closed: list[str]) -> None:
    def read(_: int) -> None:
        try:
            into.extend(events.read())
        except SocketClosed as e:
            loop.watcher.unwatch(events.fileno())
            closed.append(str(e))

    loop.watcher.watch(events.fileno(), read)
    read(0)  # what came with the upgrade's answer


def test_the_websocket_read_on_the_loop_follows_a_prompt_from_its_first_frame(
    replay: ReplayServer, loop: LoopDriver
) -> None:
    client = ComfyClient(replay.url, timeout=5)
    events = EventSocket.open(client.socket_url("loop-test"), 5, FEATURE_FLAGS)
    got: list[ce.ComfyEvent] = []
    _watch(loop, events, got, [])
    loop.run_until(lambda: got)
    assert isinstance(got[0], ce.Status) and got[0].sid == "loop-test"  # sent as the socket opened
    client.submit(GRAPH, "prompt-1", "loop-test")
    loop.run_until(lambda: any(isinstance(e, ce.Executing) and e.node is None for e in got))
    ends = [e for e in got if isinstance(e, ce.ExecutionSuccess)]
    assert [e.prompt_id for e in ends] == ["prompt-1"]
    events.close()


def test_a_websocket_the_server_drops_is_reported_closed(replay: ReplayServer, loop: LoopDriver) -> None:
    client = ComfyClient(replay.url, timeout=5)
    events = EventSocket.open(client.socket_url("dropped"), 5, FEATURE_FLAGS)
    closed: list[str] = []
    _watch(loop, events, [], closed)
    requests.post(f"{replay.url}/replay/fault", json={"drop": True}, timeout=5)
    loop.run_until(lambda: closed)
    assert "closed" in closed[0]


def test_an_upgrade_the_server_refuses_names_the_url(replay: ReplayServer) -> None:
    with pytest.raises(SocketClosed, match="refused the WebSocket upgrade"):
        EventSocket.open(f"ws://127.0.0.1:{replay.port}/no-such-socket", 5, FEATURE_FLAGS)


def test_loop_transfers_answer_in_order_of_completion_at_most_parallel_at_a_time(
    replay: ReplayServer, loop: LoopDriver
) -> None:
    http = LoopHttp(loop.watcher, loop.schedule, Transport(5), parallel=2)
    answers: list[Answer | str] = []
    for _ in range(5):
        http.get(f"{replay.url}/queue", answers.append)
    assert http.busy
    loop.run_until(lambda: len(answers) == 5)
    assert all(isinstance(a, Answer) and a.status_code == 200 and b"queue_running" in a.content for a in answers)
    assert not http.busy
    http.close()


def test_a_loop_transfer_to_a_closed_port_fails_with_libcurls_reason(loop: LoopDriver, unused_port: int) -> None:
    http = LoopHttp(loop.watcher, loop.schedule, Transport(2), parallel=1)
    answers: list[Answer | str] = []
    http.request(f"http://127.0.0.1:{unused_port}/prompt", b"{}", answers.append)
    loop.run_until(lambda: answers)
    assert isinstance(answers[0], str) and "onnect" in answers[0]  # "Failed to connect ... Connection refused"
    http.close()


def test_the_control_lane_posts_plain_submissions_itself_and_keeps_every_command_in_order(
    replay: ReplayServer, loop: LoopDriver
) -> None:
    client = ComfyClient(replay.url, timeout=5)
    http = LoopHttp(loop.watcher, loop.schedule, Transport(5), parallel=1)
    to_thread: list[commands.Command] = []
    delivered: list[LoopMessage] = []
    lane = ControlLane(client, http, to_thread.append, delivered.append, loop.schedule)
    lane.add(commands.Submit("job-1", "prompt-a", GRAPH, "lane"))
    lane.add(commands.Cancel("job-1", "prompt-a"))  # must not overtake the submission of its prompt
    lane.add(commands.Submit("job-2", "prompt-b", GRAPH, "lane"))
    assert to_thread == []
    loop.run_until(lambda: to_thread)
    assert [(type(m), getattr(m, "job_id", None)) for m in delivered] == [(Submitted, "job-1")]
    assert to_thread == [commands.Cancel("job-1", "prompt-a")]
    assert not http.busy and len(delivered) == 1  # job-2 waits for the thread's cancel: nothing in flight
    lane.thread_done()
    loop.run_until(lambda: len(delivered) == 2)
    assert isinstance(delivered[1], Submitted) and delivered[1].job_id == "job-2"
    assert {"prompt-a", "prompt-b"} <= _known_prompts(replay)
    http.close()


def test_a_submission_the_lane_cannot_deliver_fails_the_job_with_the_url(loop: LoopDriver, unused_port: int) -> None:
    client = ComfyClient(f"http://127.0.0.1:{unused_port}", timeout=2)
    http = LoopHttp(loop.watcher, loop.schedule, Transport(2), parallel=1)
    delivered: list[LoopMessage] = []
    lane = ControlLane(client, http, lambda command: None, delivered.append, loop.schedule)
    lane.add(commands.Submit("job-1", "prompt-a", GRAPH, "lane"))
    loop.run_until(lambda: delivered)
    failed = delivered[0]
    assert (
        isinstance(failed, SubmitFailed) and f"127.0.0.1:{unused_port} is unreachable (POST /prompt)" in failed.reason
    )
    http.close()


def _known_prompts(replay: ReplayServer) -> set[str]:
    queue: dict[str, Any] = requests.get(f"{replay.url}/queue", timeout=5).json()
    history: dict[str, Any] = requests.get(f"{replay.url}/history", timeout=5).json()
    queued = {item[1] for key in ("queue_running", "queue_pending") for item in queue[key]}
    return queued | set(history)


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_submission_uploads_its_input_images_on_the_loop_then_posts_the_prompt(
    replay: ReplayServer, loop: LoopDriver, tmp_path: Path
) -> None:
    picture = tmp_path / "ref.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)  # not text: sent as the bytes are
    client = ComfyClient(replay.url, timeout=5)
    http = LoopHttp(loop.watcher, loop.schedule, Transport(5), parallel=1)
    to_pool: list[commands.Command] = []
    delivered: list[LoopMessage] = []
    lane = ControlLane(client, http, to_pool.append, delivered.append, loop.schedule)
    lane.add(commands.Submit("job-1", "prompt-a", GRAPH, "lane", images=(("pixflow/job-1/ref.png", picture),)))
    lane.add(commands.Submit("job-2", "prompt-b", GRAPH, "lane", images=(("pixflow/job-2/gone.png", tmp_path / "x"),)))
    loop.run_until(lambda: len(delivered) == 2)
    assert to_pool == []  # no thread: the uploads and the POST are the loop's own transfers
    assert isinstance(delivered[0], Submitted) and delivered[0].job_id == "job-1"
    rejected = delivered[1]
    assert isinstance(rejected, SubmitRejected) and rejected.rejection.error["type"] == "input_image_missing"
    uploads = replay.call(lambda state: dict(state.uploads))
    assert list(uploads) == ["pixflow/job-1/ref.png"] and uploads["pixflow/job-1/ref.png"] == [picture.read_bytes()]
    assert _known_prompts(replay) == {"prompt-a"}
    http.close()


def test_outputs_the_events_did_not_name_are_found_in_history_and_downloaded_on_the_loop(
    replay: ReplayServer, loop: LoopDriver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = ComfyClient(replay.url, timeout=5)
    client.submit(GRAPH, "prompt-h", "fetch")
    wait_for(lambda: client.history("prompt-h"), 10, "the prompt's history")
    http = LoopHttp(loop.watcher, loop.schedule, Transport(5), parallel=2)
    written: list[commands.WriteOutputs] = []
    delivered: list[LoopMessage] = []
    fetch = LoopFetch(client, http, delivered.append, written.append, loop.schedule)
    fetch.start(commands.FetchOutputs("job-h", "prompt-h", tmp_path, {}, node_outputs=None))
    monkeypatch.setattr("pixflow.comfy.loop_fetch.HISTORY_ATTEMPTS", 3)  # ComfyUI never writes this one
    fetch.start(commands.FetchOutputs("job-x", "no-such-prompt", tmp_path, {}, node_outputs=None))
    loop.run_until(lambda: written and delivered)
    assert [w.job_id for w in written] == ["job-h"] and written[0].datas[0].startswith(b"\x89PNG")
    failed = delivered[0]
    assert isinstance(failed, OutputsFailed) and failed.job_id == "job-x" and "no history" in failed.reason
    http.close()


def test_images_that_cannot_be_written_under_their_name_fail_the_job_as_output_failed(tmp_path) -> None:
    """A name ComfyUI gave that no file may have (a NUL byte): output_failed, not a writer's stray exception."""
    from pixflow.comfy import commands
    from pixflow.comfy.messages import OutputsFailed

    image = {"filename": "x.png\x00", "subfolder": "", "type": "output", "node": "9"}
    command = commands.WriteOutputs("nul-1", tmp_path / "nul-1", {}, [image], [b"\x89PNG\r\n\x1a\n"])
    assert isinstance(commands.write(command), OutputsFailed)
