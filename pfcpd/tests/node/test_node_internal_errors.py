"""A bug (an exception the codec or the node does not mean) is counted, reported with its
traceback, answered with cause 77 System failure (or dropped where no Cause can be sent) and
fails the robustness tests: it is never a quiet "request rejected"."""

from __future__ import annotations

import asyncio
import logging

import pytest
import test_node_fuzz
from node_harness import start_server
from planted_bug import PlantedBug, plant_bug
from test_node_sans_io import CP, CP_TS, M, events, exchange, make_node, setup

from pfcpd.node import events as ev
from pfcpd.pfcp import Cause, IEType, Message, codec
from pfcpd.pfcp.ies_scalar import Cause as CauseIE
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp


@pytest.fixture(autouse=True)
def _fresh_cache():
    yield
    codec.reload_tables()  # nothing decoded under the planted bug stays cached


def test_the_codec_lets_a_decoder_bug_escape(monkeypatch):
    plant_bug(monkeypatch, IEType.RECOVERY_TIME_STAMP, CP_TS.to_bytes(4, "big"))
    data = codec.encode(Message(M.HEARTBEAT_REQUEST, 1, [RecoveryTimeStamp(CP_TS)]))
    with pytest.raises(PlantedBug):
        codec.decode(data)
    with pytest.raises(PlantedBug):
        codec.decode_datagram(data)


def test_a_decoder_bug_on_a_request_is_counted_reported_and_answered_77(monkeypatch):
    node = make_node()
    exchange(node, setup(), 0.0)
    events(node)
    plant_bug(monkeypatch, IEType.RECOVERY_TIME_STAMP, CP_TS.to_bytes(4, "big"))
    [answer] = exchange(node, setup(seq=2), 1.0)
    assert answer.msg_type == M.ASSOCIATION_SETUP_RESPONSE and answer.seq == 2
    assert answer.get(IEType.CAUSE) == CauseIE(Cause.SYSTEM_FAILURE)
    assert node.metrics.internal_errors.get("decode") == 1
    [bug] = [e for e in events(node) if isinstance(e, ev.InternalError)]
    assert bug.addr == CP and bug.stage == "decode" and isinstance(bug.error, PlantedBug)
    assert bug.error.__traceback__ is not None  # the driver logs it
    # A heartbeat's response has no Cause: dropped, counted under its reason.
    assert exchange(node, Message(M.HEARTBEAT_REQUEST, 3, [RecoveryTimeStamp(CP_TS)]), 2.0) == []
    assert node.metrics.dropped.get("internal_error") == 1
    assert node.metrics.internal_errors.get("decode") == 2


def test_a_node_bug_on_a_request_is_answered_77_and_reported(monkeypatch):
    node = make_node()

    def broken(*args: object) -> None:
        raise PlantedBug("planted")

    monkeypatch.setattr(node, "_association_setup_request", broken)
    [answer] = exchange(node, setup(), 0.0)
    assert answer.get(IEType.CAUSE) == CauseIE(Cause.SYSTEM_FAILURE)
    assert node.metrics.internal_errors.get("request") == 1
    assert any(isinstance(e, ev.InternalError) for e in events(node))


def test_the_node_fuzz_test_fails_on_a_planted_decoder_bug(monkeypatch):
    """The robustness test's check is able to fail: with a bug planted in the decoder of a
    value its seed datagrams carry (and pfcpd's own answers do not), it must fail."""
    plant_bug(monkeypatch, IEType.RECOVERY_TIME_STAMP, (7).to_bytes(4, "big"))
    with pytest.raises((AssertionError, ExceptionGroup)) as failed:  # (hypothesis: one or more)
        test_node_fuzz.test_arbitrary_datagrams_never_raise()
    errors = failed.value.exceptions if isinstance(failed.value, ExceptionGroup) else [failed.value]
    assert any("a bug was met" in str(e) for e in errors)


def test_the_daemon_logs_a_bug_at_error_with_its_traceback(monkeypatch, tmp_path, caplog):
    plant_bug(monkeypatch, IEType.RECOVERY_TIME_STAMP, CP_TS.to_bytes(4, "big"))

    async def main() -> Message:
        server, cp, target = await start_server(tmp_path / "state")
        answer = await cp.ask(target, setup())
        server.close()
        assert cp.transport is not None
        cp.transport.close()
        return answer

    with caplog.at_level(logging.ERROR, logger="pfcpd"):
        answer = asyncio.run(main())
    assert answer.get(IEType.CAUSE) == CauseIE(Cause.SYSTEM_FAILURE)
    [record] = [r for r in caplog.records if "internal error (decode)" in r.getMessage()]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.exc_info[0] is PlantedBug
    assert "buggy" in logging.Formatter().formatException(record.exc_info)  # the traceback
