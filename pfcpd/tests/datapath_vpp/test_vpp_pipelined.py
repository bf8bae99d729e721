"""VppDatapath pipelined (as the daemon opens it): installs are sent without waiting for
VPP's replies and checked by `settle`, the group commit's barrier; over the plugin stand-in
(fake_plugin)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fake_plugin import FakeClient, FakeSession, FakeVpp
from test_vpp_datapath import SETTINGS, ops, program

from pfcpd.datapath.interface import DatapathError
from pfcpd.datapath.vpp import datapath as vdp
from pfcpd.datapath.vpp import translate as tr
from pfcpd.datapath.vpp.client import VppCallError, VppUnavailable
from pfcpd.datapath.vpp.datapath import VppDatapath
from pfcpd.datapath.vpp.wire import (
    DETAILS,
    REPLY,
    ReplyDecoder,
    SessionReply,
    Unsupported,
    UsageDetailsDecoder,
)

ADD = "upf_session_add_del"


def refusal(retval: int, error: str) -> SimpleNamespace:
    return SimpleNamespace(retval=retval, error=error, usage=[])


OPENED: list[VppDatapath] = []


@pytest.fixture(autouse=True)
def _close_datapaths() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


def open_pipelined(vpp: FakeVpp, pipelined: bool = True) -> VppDatapath:
    def factory(*args: Any) -> FakeClient:
        return FakeClient(vpp, *args)

    dp = VppDatapath(SETTINGS, client_factory=factory, pipelined=pipelined)
    OPENED.append(dp)
    dp.start()
    vpp.calls.clear()
    return dp


def test_installs_are_sent_in_batches_and_acknowledged_at_settle() -> None:
    vpp = FakeVpp()
    dp = open_pipelined(vpp)
    for seid in range(1, vdp.POST_EVERY):
        dp.install(seid, program(0x100 + seid))
    assert vpp.calls == []  # packed, not sent yet
    dp.install(vdp.POST_EVERY, program(0x100))
    assert len(ops(vpp)) == vdp.POST_EVERY  # one hop to the client for the lot
    dp.install(0x99, program(0x199))
    assert dp.settle() == {}  # sends the rest, waits for every reply
    assert sorted(vpp.sessions) == [*range(1, vdp.POST_EVERY + 1), 0x99]
    assert dp.settle() == {}  # (nothing outstanding: no call)
    assert len(ops(vpp)) == vdp.POST_EVERY + 1


def test_changes_of_a_session_keep_their_order() -> None:
    vpp = FakeVpp()
    dp = open_pipelined(vpp)
    dp.install(7, program(0x100))
    dp.install(7, program(0x101, urrs=(1, 2)))  # a modify of what the create makes
    dp.read_usage(7, 1, reset=True)  # a call that waits sends what is pending first
    dp.install(7, program(0x102))
    dp.remove(7)
    assert ops(vpp) == [
        (ADD, 7, tr.OP_CREATE),
        (ADD, 7, tr.OP_MODIFY),
        ("upf_usage_get", 7, True),
        (ADD, 7, tr.OP_MODIFY),
        (ADD, 7, tr.OP_DELETE),
    ]
    assert dp.settle() == {}


def test_a_drop_of_buffered_packets_comes_between_the_changes_around_it() -> None:
    """DROBU (TS 29.244 8.2.58: the buffered packets dropped "prior to further applying the
    action specified in the Apply Action value of the FARs"): the session engine drops
    before it installs its request's change; VPP gets the changes sent before the drop
    first, then the drop, then the change after it."""
    vpp = FakeVpp()
    dp = open_pipelined(vpp)
    dp.install(7, program(0x100))
    assert dp.drop_buffered(7) == 3
    dp.install(7, program(0x101))
    assert dp.settle() == {}
    calls = [(name, args["seid"]) for name, args in vpp.calls]
    assert calls == [(ADD, 7), ("upf_session_drop_buffered", 7), (ADD, 7)]


def test_a_refused_change_is_reported_for_its_session_only() -> None:
    vpp = FakeVpp()
    dp = open_pipelined(vpp)
    dp.install(1, program(0x101))
    dp.install(2, program(0x102))
    dp.install(3, program(0x103))
    assert dp.settle() == {}
    refused = {2}
    handle = vpp._upf_session_add_del

    def refusing(args: dict[str, Any]) -> Any:
        if args["seid"] in refused and args["op"] != tr.OP_DELETE:
            return refusal(-7, "refused")
        return handle(args)

    vpp._upf_session_add_del = refusing  # type: ignore[method-assign]
    dp.install(1, program(0x201))
    dp.install(2, program(0x202))  # refused: VPP keeps 0x102
    dp.install(4, program(0x204))
    failed = dp.settle()
    assert sorted(failed) == [2] and isinstance(failed[2], VppCallError)
    assert failed[2].retval == -7
    # pfcpd's view of each session is what VPP holds: 2 as before, 1 and 4 changed.
    assert dp._programs[2][1] == vpp.sessions[2].cookie
    assert dp._programs[1][1] == vpp.sessions[1].cookie and 4 in dp._programs
    assert dp.program_failures == 1
    # A refused creation: nothing to remove (the engine undoes the establishment).
    dp.install(6, program(0x206))
    refused.add(6)
    failed = dp.settle()
    assert list(failed) == [6] and 6 not in vpp.sessions and 6 not in dp._programs
    assert dp.remove(6) == {}
    with pytest.raises(DatapathError, match="not installed"):
        dp.remove(6)  # (once only)


def test_a_session_vpp_holds_or_lost_is_sent_again_at_settle(caplog: Any) -> None:
    vpp = FakeVpp()
    dp = open_pipelined(vpp)
    dp.install(0x30, program(0x100))
    assert dp.settle() == {}
    del vpp.sessions[0x30]  # lost behind pfcpd's back
    vpp.sessions[0x31] = FakeSession(1, {})  # an orphan
    dp.install(0x30, program(0x101))  # modify: NO_SUCH_ENTRY, sent again as a create
    dp.install(0x31, program(0x102))  # create: ENTRY_ALREADY_EXISTS, sent again as a modify
    dp.install(0x32, program(0x103))
    dp.install(0x32, program(0x104))
    assert dp.settle() == {}
    assert ops(vpp)[-6:] == [
        (ADD, 0x30, tr.OP_MODIFY),
        (ADD, 0x31, tr.OP_CREATE),
        (ADD, 0x32, tr.OP_CREATE),
        (ADD, 0x32, tr.OP_MODIFY),
        (ADD, 0x30, tr.OP_CREATE),
        (ADD, 0x31, tr.OP_MODIFY),
    ]
    for seid in (0x30, 0x31, 0x32):
        assert vpp.sessions[seid].cookie == dp._programs[seid][1]
    assert "sent again as create" in caplog.text and "sent again as modify" in caplog.text


def test_a_later_change_vpp_took_decides_without_a_retry() -> None:
    """A create refused as existing (an orphan) followed by a modify VPP took: VPP holds the
    last program already; sending the create's program again would undo the modify."""
    vpp = FakeVpp()
    dp = open_pipelined(vpp)
    vpp.sessions[0x40] = FakeSession(1, {})
    dp.install(0x40, program(0x100))
    dp.install(0x40, program(0x101))
    assert dp.settle() == {}
    assert [o for o in ops(vpp) if o[1] == 0x40] == [
        (ADD, 0x40, tr.OP_CREATE),
        (ADD, 0x40, tr.OP_MODIFY),
    ]
    assert vpp.sessions[0x40].cookie == dp._programs[0x40][1]


def test_vpp_gone_fails_every_change_outstanding() -> None:
    vpp = FakeVpp()
    dp = open_pipelined(vpp)
    dp.install(1, program(0x101))
    assert dp.settle() == {}
    before = dp._programs[1]
    dp.install(1, program(0x201))
    dp.install(2, program(0x202))
    client: Any = dp.client
    client.connected = False  # (VPP went away; the next calls fail)
    failed = dp.settle()
    assert sorted(failed) == [1, 2]
    assert all(isinstance(e, VppUnavailable) for e in failed.values())
    assert dp._programs[1] == before and 2 not in dp._programs


def test_not_pipelined_install_waits_and_raises() -> None:
    vpp = FakeVpp()
    dp = open_pipelined(vpp, pipelined=False)

    def refuse(args: dict[str, Any]) -> Any:
        return refusal(-3, "no")

    dp.install(0x51, program(0x100))
    assert 0x51 in vpp.sessions  # sent and acknowledged before install returned
    vpp._upf_session_add_del = refuse  # type: ignore[method-assign]
    with pytest.raises(VppCallError, match="no"):
        dp.install(0x52, program(0x101))
    assert 0x52 not in dp._programs


def test_reply_decoder_reads_vpp_papis_bytes(
    upf_api: dict[str, Any], papi_messages: dict[str, Any]
) -> None:
    """The precompiled upf_session_add_del_reply decoder: the usual reply (retval 0, no
    usage) as vpp_papi decodes it; anything else left to vpp_papi (None)."""
    decode = ReplyDecoder(upf_api)
    message = papi_messages[REPLY]

    def packed(**fields: Any) -> bytes:
        base = {"_vl_msg_id": 77, "context": 0x1234, "retval": 0, "error": "", "now_ns": 0}
        data: bytes = message.pack(base | {"n_usage": 0, "usage": []} | fields)
        return data

    raw = packed(now_ns=123456789)
    got = decode(raw)
    want, _ = message.unpack(raw)
    assert isinstance(got, SessionReply)
    assert (got.context, got.retval, got.error, got.now_ns, got.n_usage, got.usage) == (
        want.context,
        want.retval,
        want.error,
        want.now_ns,
        want.n_usage,
        list(want.usage),
    )
    assert decode(packed(retval=-3, error="refused")) is None
    usage = [{"urr_id": 1}]
    assert decode(packed(n_usage=1, usage=usage)) is None
    with pytest.raises(Unsupported):
        api = {"messages": [[REPLY, ["u16", "_vl_msg_id"], ["u32", "context"], {"crc": "0"}]]}
        ReplyDecoder(api)


def test_usage_details_decoder_reads_vpp_papis_bytes(
    upf_api: dict[str, Any], papi_messages: dict[str, Any]
) -> None:
    """The precompiled upf_session_usage_details decoder: every field of the message and of
    its usage records as vpp_papi decodes them (the usage translated alike); a message of
    another length left to vpp_papi (None)."""
    decode = UsageDetailsDecoder(upf_api)
    message = papi_messages[DETAILS]
    record = next(t for t in upf_api["types"] if t[0] == "upf_usage")
    fields = [f for f in record[1:] if isinstance(f, list)]
    records = [  # (each field its own value; a u64 beyond 32 bits)
        {
            name: (2**40 * (i + 1) if ftype == "u64" else 0) + urr_id + i
            for i, (ftype, name, *_) in enumerate(fields)
        }
        | {"urr_id": urr_id}
        for urr_id in (1, 7, 0xFFFFFFF0)
    ]
    for usage in (records, []):
        raw = message.pack(
            {"_vl_msg_id": 77, "context": 0x1234, "seid": 2**64 - 2, "now_ns": 987654321}
            | {"n_usage": len(usage), "usage": usage}
        )
        got = decode(raw)
        want, _ = message.unpack(raw)
        assert type(got).__name__ == DETAILS
        assert (got.context, got.seid, got.now_ns, got.n_usage) == (
            want.context,
            want.seid,
            want.now_ns,
            want.n_usage,
        )
        assert [r._asdict() for r in got.usage] == [r._asdict() for r in want.usage]
        assert tr.usages_of(got) == tr.usages_of(want)
        assert decode(raw[:-1]) is None and decode(raw + b"\0") is None
    with pytest.raises(Unsupported):
        api = {"messages": [[DETAILS, ["u16", "_vl_msg_id"], ["u32", "context"], {"crc": "0"}]]}
        UsageDetailsDecoder(api)


def test_a_session_removed_before_its_create_is_settled_leaves_no_usage_state() -> None:
    """A pipelined create, then the session's removal before the batch is settled (an
    Association Release in the batch of its Establishment): settling the create keeps
    nothing of the session (no cached counts, no URR history)."""
    vpp = FakeVpp()
    dp = open_pipelined(vpp)
    dp.install(9, program(0x109))
    dp.remove(9)
    assert dp.settle() == {}
    assert 9 not in dp._usage and 9 not in dp._urr_history
    dp.close()
