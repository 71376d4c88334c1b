"""The worker's WebSocket codec (comfy/ws_frames.py) against wsproto as the server: every message it writes comes
out whole and in order, however the bytes are cut; broken framing is refused; the frames and the upgrade pixflow
writes are what wsproto, as a server, reads."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, Request, TextMessage

from pixflow.comfy.ws_frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    FrameReader,
    ProtocolError,
    UpgradeRefused,
    check_upgrade_answer,
    client_frame,
    new_key,
    upgrade_request,
)

Message = tuple[int, bytes, int]  # opcode, payload, fragments it is sent in


def _server_bytes(messages: list[Message]) -> bytes:
    server = Connection(ConnectionType.SERVER)
    out = b""
    for opcode, payload, fragments in messages:
        if opcode == OP_PING:
            out += server.send(Ping(payload=payload))
            continue
        cuts = [payload[i * len(payload) // fragments : (i + 1) * len(payload) // fragments] for i in range(fragments)]
        for n, part in enumerate(cuts):
            last = n == fragments - 1
            if opcode == OP_TEXT:
                out += server.send(TextMessage(data=part.decode("latin-1"), message_finished=last))
            else:
                out += server.send(BytesMessage(data=part, message_finished=last))
    return out


messages = st.lists(
    st.one_of(
        st.tuples(st.just(OP_TEXT), st.binary(max_size=300).map(lambda b: b.decode("latin-1").encode("latin-1"))),
        st.tuples(st.just(OP_BINARY), st.binary(max_size=70_000)),
        st.tuples(st.just(OP_PING), st.binary(max_size=125)),
    ).flatmap(lambda m: st.tuples(st.just(m[0]), st.just(m[1]), st.integers(1, 1 if m[0] == OP_PING else 4))),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(messages, st.lists(st.integers(1, 5000), max_size=40))
def test_every_message_comes_out_whole_and_in_order_however_the_bytes_are_cut(
    sent: list[Message], cuts: list[int]
) -> None:
    wire = _server_bytes(sent)
    reader, got, position = FrameReader(), [], 0
    for cut in [*cuts, len(wire)]:
        got += reader.feed(wire[position : position + cut])
        position += cut
    got += reader.feed(wire[position:])
    expected = [(op, payload.decode("latin-1").encode() if op == OP_TEXT else payload) for op, payload, _ in sent]
    assert got == expected


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        (b"\x81\x85abcd" + b"x" * 5, "masked"),
        (b"\xc1\x01x", "reserved bits"),
        (b"\x80\x01x", "no message to continue"),
        (b"\x01\x01x\x01\x01y", "before the last one ended"),
        (b"\x09\x01x", "control frame"),
        (b"\x83\x00", "unknown opcode"),
        (b"\x82\x7f" + (1 << 40).to_bytes(8, "big"), "more than"),
    ],
)
def test_broken_framing_is_refused(wire: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        FrameReader().feed(wire)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([OP_TEXT, OP_PING, OP_CLOSE]), st.binary(max_size=70_000))
def test_the_frames_pixflow_writes_are_read_by_wsproto_as_a_server(opcode: int, payload: bytes) -> None:
    if opcode != OP_TEXT:
        payload = payload[:61]  # a control frame's limit is 125 bytes: 2 for a close code, 2 per character below
    if opcode != OP_PING:
        payload = payload.decode("latin-1").encode()  # text and a close reason are UTF-8
    if opcode == OP_CLOSE:
        payload = (1000).to_bytes(2, "big") + payload
    server = Connection(ConnectionType.SERVER)
    server.receive_data(client_frame(opcode, payload))
    (event,) = list(server.events())
    if opcode == OP_TEXT:
        assert isinstance(event, TextMessage) and event.data.encode() == payload
    elif opcode == OP_PING:
        assert isinstance(event, Ping) and event.payload == payload
    else:
        assert isinstance(event, CloseConnection) and event.code == 1000


def _wsproto_answer(request: bytes) -> bytes:
    """What wsproto, as a server, answers to pixflow's upgrade request (it checks the request on the way)."""
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(request)
    assert [type(e) for e in server.events()] == [Request]
    return server.send(AcceptConnection())


def test_the_upgrade_request_is_accepted_by_wsproto_and_its_answer_checked() -> None:
    key = new_key()
    answer = _wsproto_answer(upgrade_request("127.0.0.1:8188", "/ws?clientId=x", key))
    head = answer.split(b"\r\n\r\n")[0]
    check_upgrade_answer(head, key)
    with pytest.raises(UpgradeRefused, match="Sec-WebSocket-Accept"):
        check_upgrade_answer(head, new_key())  # an answer to another request
    with pytest.raises(UpgradeRefused, match="404"):
        check_upgrade_answer(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0", key)
