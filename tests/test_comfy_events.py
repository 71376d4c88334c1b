"""Parsing ComfyUI's WebSocket frames, checked against every frame of the recordings."""

from __future__ import annotations

import json
import struct

from pixflow.comfy import events as ce
from pixflow.replay.recordings import load_recordings
from tests.helpers import FIXTURES

RECORDINGS = load_recordings(FIXTURES)


def test_every_recorded_frame_parses_or_is_knowingly_ignored():
    ignored = {"progress_state", "executed"}  # progress_state repeats progress; executed: history is the source
    for recording in RECORDINGS.values():
        for frame in recording.frames:
            if frame.text is not None:
                kind = json.loads(frame.text)["type"]
                event = ce.parse_text(frame.text)
                assert event is not None or kind == "progress_state", (recording.name, kind)
                assert kind in ignored or event is not None
            else:
                preview = ce.parse_binary(frame.binary)
                assert preview is not None and preview.image_format == "jpeg"


def test_preview_with_metadata_names_its_prompt_and_node():
    frames = [f.binary for f in RECORDINGS["fresh_preview_flags"].frames if f.binary is not None]
    preview = ce.parse_binary(frames[0])
    assert preview.prompt_id == RECORDINGS["fresh_preview_flags"].prompt_id
    assert preview.node == "3" and preview.image.startswith(b"\xff\xd8")


def test_execution_error_keeps_what_a_person_needs():
    frames = [json.loads(f.text) for f in RECORDINGS["runtime_error"].frames if f.text]
    error = ce.parse_text(json.dumps(next(m for m in frames if m["type"] == "execution_error")))
    assert isinstance(error, ce.ExecutionError)
    assert (error.node_id, error.node_type, error.exception_type) == ("9", "SaveImage", "Exception")
    assert error.traceback


def test_garbage_is_ignored_not_raised():
    for text in [
        "",
        "not json",
        "[]",
        '{"type": 1}',
        '{"type": "progress", "data": {"value": "x"}}',
        '{"type": "executing", "data": []}',
        '{"type": "custom_node_message", "data": {}}',
    ]:
        assert ce.parse_text(text) is None
    assert ce.parse_binary(b"\x00\x00") is None
    assert ce.parse_binary(struct.pack(">II", 3, 1) + b"text") is None
    assert ce.parse_binary(struct.pack(">II", 4, 100) + b"{broken") is None


def test_an_event_and_its_copy_in_the_history_entry_read_the_same():
    """history.outcome_of and the WebSocket parser build the same event from the same message."""
    from pixflow.comfy.history import outcome_of

    recording = RECORDINGS["runtime_error"]
    sent = next(json.loads(f.text) for f in recording.frames if f.text and '"execution_error"' in f.text)
    assert outcome_of(recording.history).error == ce.parse_message(sent)


def test_events_for_a_prompt_must_name_it():
    assert ce.parse_message({"type": "execution_interrupted", "data": {"node_id": "3"}}) is None
    assert ce.parse_message(["not", "an", "object"]) is None
    assert ce.parse_message({"type": "execution_interrupted", "data": {"prompt_id": "p"}}) == (
        ce.ExecutionInterrupted("p", None, None)
    )


def test_images_of_a_history_entry_in_node_order_with_their_node():
    from pixflow.comfy.history import images_of
    from pixflow.comfy.outputs import images_in_history

    entry = {
        "outputs": {
            "9": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]},
            "12": {"images": [{"filename": "p.png", "subfolder": "", "type": "temp"}, {"subfolder": "no name"}]},
        }
    }
    assert [(i["node"], i["filename"]) for i in images_of(entry)] == [("9", "a.png"), ("12", "p.png")]
    assert [i["filename"] for i in images_in_history(entry)] == ["a.png"]  # temp previews only when nothing else
