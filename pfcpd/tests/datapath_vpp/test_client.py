"""ApiClient (vpp_papi_async in its own thread) against a stand-in of VPP's API socket
(fake_api_server): connect, calls, packed calls, pipelining, dumps, events, and VPP going
away under a call."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_api_server import FakeApiServer
from test_translate import full_program

from pfcpd.datapath.vpp import translate as tr
from pfcpd.datapath.vpp.client import ApiClient, VppCallError, VppUnavailable
from pfcpd.datapath.vpp.wire import SessionPacker


@pytest.fixture
def server(tmp_path: Path, upf_api: dict[str, Any]) -> Iterator[FakeApiServer]:
    s = FakeApiServer(tmp_path / "api.sock", [upf_api])
    yield s
    s.close()


class Recorder:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.lost = threading.Event()

    def on_message(self, message: Any) -> None:
        self.messages.append(message)

    def on_lost(self) -> None:
        self.lost.set()


@pytest.fixture
def connected(server: FakeApiServer) -> Iterator[tuple[ApiClient, Recorder]]:
    rec = Recorder()
    client = ApiClient(str(server.path), 2.0, rec.on_message, rec.on_lost)
    client.connect()
    yield client, rec
    client.close()


def _session_reply(msg: Any) -> list[tuple[str, dict[str, Any]]]:
    retval = -6 if msg.seid == 0xBAD else 0
    error = "no such session" if retval else ""
    return [("upf_session_add_del_reply", {"retval": retval, "error": error, "now_ns": 1})]


def test_connect_and_call(server: FakeApiServer, connected: Any) -> None:
    client, _ = connected
    assert client.connected
    assert client.call("control_ping").retval == 0
    assert client.message_definitions("upf") is not None  # served by get_api_json
    assert client.message_definitions("nosuch") is None


def test_packed_call_reaches_vpp_as_packed(server: FakeApiServer, connected: Any) -> None:
    client, _ = connected
    server.handlers["upf_session_add_del"] = _session_reply
    api = client.message_definitions("upf")
    assert api is not None
    packer = SessionPacker(api)
    rules = tr.program_rules(full_program())
    packed = packer.rules(rules)

    def build(msg_id: int, client_index: int, context: int) -> bytes:
        return packer.message(
            msg_id, client_index, context, 0x77, tr.OP_CREATE, False, 5, len(rules), packed
        )

    assert client.call_packed("upf_session_add_del", build).retval == 0
    name, msg = server.received[-1]
    assert name == "upf_session_add_del"
    assert (msg.seid, msg.cookie, msg.n_rules, msg.client_index) == (0x77, 5, len(rules), 7)
    assert [int(r.kind) for r in msg.rules] == [r["kind"] for r in rules]

    def bad(msg_id: int, client_index: int, context: int) -> bytes:
        return packer.message(msg_id, client_index, context, 0xBAD, tr.OP_MODIFY, False, 0, 0, b"")

    with pytest.raises(VppCallError, match="no such session") as info:
        client.call_packed("upf_session_add_del", bad)
    assert info.value.retval == -6


def test_pipelined_calls_get_their_own_replies(server: FakeApiServer, connected: Any) -> None:
    client, _ = connected

    def echo_seid(msg: Any) -> list[tuple[str, dict[str, Any]]]:
        retval = 0 if msg.seid % 7 else -6  # every 7th fails
        return [("upf_session_drop_buffered_reply", {"retval": retval, "n_dropped": msg.seid})]

    server.handlers["upf_session_drop_buffered"] = echo_seid
    calls: list[Any] = [("upf_session_drop_buffered", {"seid": s}) for s in range(1, 201)]
    results = client.call_many(calls)
    for seid, result in zip(range(1, 201), results, strict=True):
        if seid % 7:
            assert result.n_dropped == seid
        else:
            assert isinstance(result, VppCallError)


def test_dump_and_events(server: FakeApiServer, connected: Any) -> None:
    client, rec = connected

    def dump(msg: Any) -> list[tuple[str, dict[str, Any]]]:
        return [("upf_session_details", {"seid": s, "cookie": s * 10}) for s in (1, 2, 3)]

    server.handlers["upf_session_dump"] = dump
    _, details = client.call("upf_session_dump", seid=tr.ALL_SESSIONS)
    assert [(d.seid, d.cookie) for d in details] == [(1, 10), (2, 20), (3, 30)]
    record = {"type": 5, "id": 2, "seid": 9, "value": 1, "time_ns": 3}
    server.push("upf_event", client_index=7, pid=1, n_records=1, records=[record])
    deadline = time.monotonic() + 5
    while not rec.messages and time.monotonic() < deadline:
        time.sleep(0.01)
    (event,) = rec.messages
    events, _ = tr.events_of(event)
    assert [(int(e.type), e.seid, e.id) for e in events] == [(5, 9, 2)]


def test_vpp_gone_fails_the_waiting_call_at_once(server: FakeApiServer, connected: Any) -> None:
    client, rec = connected
    server.handlers["upf_session_drop_buffered"] = lambda msg: []  # never answers
    threading.Timer(0.2, server.drop).start()
    started = time.monotonic()
    with pytest.raises(VppUnavailable, match="closed"):
        client.call("upf_session_drop_buffered", seid=1)
    assert time.monotonic() - started < 1.5  # not the 2 s call timeout
    assert rec.lost.wait(5)
    assert not client.connected
    with pytest.raises(VppUnavailable, match="not connected"):
        client.call("control_ping")
    client.connect()  # VPP is back (the server accepts again)
    assert client.call("control_ping").retval == 0


def test_no_socket_is_unavailable(tmp_path: Path) -> None:
    client = ApiClient(str(tmp_path / "none.sock"), 0.5, lambda m: None, lambda: None)
    try:
        with pytest.raises(VppUnavailable, match="cannot connect"):
            client.connect()
    finally:
        client.close()
