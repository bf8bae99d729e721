"""The node's side of TS 29.244 6.2.6.2.2: a CP's Association Setup Request for a Node ID
already associated overwrites the association whatever its Recovery Time Stamp, and the
handler is told to delete the CP's sessions, or to keep them (all, or those at the CP PFCP
Entity IP Addresses) when the request has PFCP Session Retention Information; the response
sets PSREI (8.2.134) then. tshark reads every response (its PSREI bit too)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oracles import require_tshark, tshark_fields, tshark_problems
from test_node_sans_io import CP, CP_TS, RecordingHandler, events, make_node, setup

from pfcpd.node import events as ev
from pfcpd.node.session_handler import PeerGone
from pfcpd.pfcp import Grouped, IEType, Message, decode, encode
from pfcpd.pfcp.ies_address import CPPFCPEntityIPAddress
from pfcpd.pfcp.ies_flags import PFCPASRspFlags

RELEASED = PeerGone.RELEASED


def retention(*addresses: CPPFCPEntityIPAddress) -> Grouped:
    return Grouped(IEType.PFCP_SESSION_RETENTION_INFORMATION, list(addresses))


def with_ies(msg: Message, *ies: Grouped) -> Message:
    msg.ies.extend(ies)
    return msg


@pytest.fixture
def sent() -> Iterator[list[bytes]]:
    """The datagrams a test's node sent: tshark must read them all cleanly."""
    datagrams: list[bytes] = []
    yield datagrams
    if datagrams:
        assert tshark_problems(datagrams) == []


def answer(node, msg: Message, now: float, sent: list[bytes], addr=CP) -> Message:
    node.datagram_received(encode(msg), addr, now)
    [tx] = node.datagrams_to_send()
    sent.append(tx.data)
    return decode(tx.data)


def psrei(response: Message) -> bool:
    flags = response.get(IEType.PFCPASRSP_FLAGS)
    return isinstance(flags, PFCPASRspFlags) and flags.has("PSREI")


def test_a_setup_again_without_retention_deletes_the_sessions(sent: list[bytes]) -> None:
    handler = RecordingHandler()
    node = make_node(handler)
    first = answer(node, setup(), 0.0, sent)
    assert handler.gone == [] and not psrei(first)
    events(node)
    again = answer(node, setup(seq=2), 1.0, sent)  # the same Recovery Time Stamp
    assert handler.gone == [("smf", RELEASED, False)] and handler.kept_at == [None]
    assert not psrei(again) and again.get(IEType.PFCPASRSP_FLAGS) is None
    assert events(node) == [ev.AssociationEstablished("smf", CP, "cp", True)]
    assert len(node.associations()) == 1


@pytest.mark.parametrize("on_peer_restart", ["purge", "keep"])
def test_a_restarted_cps_setup_follows_the_request_not_on_peer_restart(
    sent: list[bytes], on_peer_restart: str
) -> None:
    """A new Recovery Time Stamp in the setup: the restart is told and counted, and the
    sessions go (no retention asked) whatever ``on_peer_restart``."""
    handler = RecordingHandler()
    node = make_node(handler, on_peer_restart=on_peer_restart)
    answer(node, setup(), 0.0, sent)
    events(node)
    response = answer(node, setup(seq=2, ts=CP_TS + 5), 1.0, sent)
    assert not psrei(response)
    assert handler.gone == [("smf", RELEASED, False)]
    restarted = [e for e in events(node) if isinstance(e, ev.PeerRestarted)]
    assert restarted == [ev.PeerRestarted("smf", CP, CP_TS, CP_TS + 5, False)]
    assert node.metrics.peer_restarts.get() == 1
    assert node.associations()[0].cp_recovery_time_stamp == CP_TS + 5


def test_retention_keeps_every_session_and_sets_psrei(sent: list[bytes]) -> None:
    """PSREI only where an association with the Node ID existed: not on a first setup."""
    handler = RecordingHandler()
    node = make_node(handler)  # (on_peer_restart: purge)
    first = answer(node, with_ies(setup(), retention()), 0.0, sent)
    assert not psrei(first) and handler.gone == []
    events(node)
    response = answer(node, with_ies(setup(seq=2, ts=CP_TS + 5), retention()), 1.0, sent)
    assert psrei(response)
    assert handler.gone == [("smf", RELEASED, True)] and handler.kept_at == [None]
    restarted = [e for e in events(node) if isinstance(e, ev.PeerRestarted)]
    assert [e.sessions_kept for e in restarted] == [True]


def test_retention_with_addresses_keeps_the_sessions_at_them(sent: list[bytes]) -> None:
    handler = RecordingHandler()
    node = make_node(handler)
    answer(node, setup(), 0.0, sent)
    addresses = retention(
        CPPFCPEntityIPAddress("127.0.0.7"),
        CPPFCPEntityIPAddress("127.0.0.8", "2001:db8::8"),
    )
    response = answer(node, with_ies(setup(seq=2), addresses), 1.0, sent)
    assert psrei(response)
    assert handler.gone == [("smf", RELEASED, True)]
    assert handler.kept_at == [frozenset({"127.0.0.7", "127.0.0.8", "2001:db8::8"})]


def test_a_retransmitted_setup_has_no_second_effect(sent: list[bytes]) -> None:
    """The retransmission (the same octets, within response_cache_time) gets the first
    answer's octets from the cache; the handler is told once."""
    handler = RecordingHandler()
    node = make_node(handler)
    answer(node, setup(), 0.0, sent)
    for request in (setup(seq=2), with_ies(setup(seq=3), retention())):
        before = len(handler.gone)
        answer(node, request, 1.0, sent)
        answer(node, request, 1.5, sent)
        assert len(handler.gone) == before + 1
        assert sent[-1] == sent[-2]
    assert node.metrics.duplicates.get("association_setup_request") == 2


def test_tshark_reads_psrei_as_sent() -> None:
    """tshark's dissector shows PSREI set in the response that retained, and no
    PFCPASRsp-Flags in the others."""
    require_tshark()
    node = make_node(RecordingHandler())
    datagrams: list[bytes] = []
    answer(node, setup(), 0.0, datagrams)
    answer(node, setup(seq=2), 1.0, datagrams)
    answer(
        node, with_ies(setup(seq=3), retention(CPPFCPEntityIPAddress("127.0.0.7"))), 2.0, datagrams
    )
    rows = tshark_fields(datagrams, ["pfcp.asrsp_flags.flags.psrei", "pfcp.cause"])
    assert [r["pfcp.asrsp_flags.flags.psrei"] for r in rows] == [[], [], ["1"]]
    assert [r["pfcp.cause"] for r in rows] == [["1"]] * 3
