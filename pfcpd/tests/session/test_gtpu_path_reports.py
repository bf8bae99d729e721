"""GTP-U path management in the engine on the local datapath: Echo Requests to the peers of
the sessions' FARs (the bytes the packet loop sends), Echo Responses as datapath events, and
the PFCP Node Report Request (UPFR, then UPRR) to the CP whose sessions use a failed peer,
read by scapy's PFCP dissector (tshark reads every message sent: the ``h`` fixtures'
teardown)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

import pytest
from datapath.conftest import require_core
from scapy.contrib.pfcp import PFCP
from session_harness import CP, GNB, Harness, standard_rules

from pfcpd.datapath.interface import EchoSent, IPAddress
from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.pfcp import Grouped, IEType, Message, MessageType, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.session.gtpu_path import PathSettings
from pfcpd.smfsim import rules as smf_rules

M = MessageType
T = IEType
PATHS = PathSettings(interval=10.0, t3_response=1.0, n3_requests=2)
GNB_IP = ipaddress.ip_address(GNB)
OTHER = "192.0.2.77"


@pytest.fixture
def hp() -> Iterator[Harness]:
    require_core()
    dp = LocalDatapath(expected_sessions=16)
    harness = Harness(dp, gtpu_path=PATHS)
    try:
        yield harness
        harness.check_sent_with_tshark()
        assert harness.engine.metrics.errors.get("timer") == 0
    finally:
        dp.close()


def echo_response(seq: int) -> bytes:
    """A GTPv1-U Echo Response (TS 29.281 7.2.2) with the Recovery IE."""
    return bytes([0x32, 2, 0, 6, 0, 0, 0, 0]) + seq.to_bytes(2, "big") + b"\0\0" + b"\x0e\x00"


def echoes(dp: LocalDatapath) -> list[tuple[str, int]]:
    out = []
    for peer, msg in dp.take_echoes():
        # GTPv1-U, PT, S; Echo Request; length 4; TEID 0 (TS 29.281 5.1, 7.2.1)
        assert msg[:8] == bytes([0x32, 1, 0, 4, 0, 0, 0, 0]) and len(msg) == 12
        out.append((str(peer), int.from_bytes(msg[8:10], "big")))
    return out


def node_reports(sent: list[Message]) -> list[Message]:
    """The Node Report Requests of ``sent`` (T1 retransmissions left out)."""
    seen: set[int] = set()
    out = []
    for m in sent:
        if m.msg_type == M.NODE_REPORT_REQUEST and m.seq not in seen:
            seen.add(m.seq)
            out.append(m)
    return out


def answer(h: Harness, report: Message) -> None:
    resp = Message(M.NODE_REPORT_RESPONSE, report.seq, [A.NodeID.from_text("smf"), S.Cause(1)])
    h.node.datagram_received(encode(resp), CP, h.now)
    h._collect()


def test_failed_path_reported_once_then_its_recovery(hp: Harness) -> None:
    h, dp = hp, hp.dp
    assert isinstance(dp, LocalDatapath)
    h.establish()
    h.advance(0.1)
    ((peer, seq),) = echoes(dp)
    assert peer == GNB
    assert dp.echo_response(GNB_IP, echo_response(seq))
    sent = h.advance(5.0)
    assert node_reports(sent) == [] and echoes(dp) == []  # answered: nothing until 10 s
    sent = h.advance(5.1)
    ((_, seq2),) = echoes(dp)
    assert seq2 == (seq + 1) % 65536
    # unanswered: a second attempt after T3, the path fails T3 after it
    sent = h.advance(1.0)
    assert echoes(dp) == [(GNB, seq2)] and node_reports(sent) == []
    sent = h.advance(1.0)
    (report,) = node_reports(sent)
    pkt = PFCP(encode(report))
    assert pkt.message_type == 12
    ies = {type(ie).__name__: ie for ie in pkt.payload.IE_list}
    assert ies["IE_NodeId"].ipv4 == "127.0.0.1"
    # (scapy names UPFR, bit 1; UPRR, bit 2, is the lowest of what it calls spare)
    assert ies["IE_NodeReportType"].UPFR == 1 and ies["IE_NodeReportType"].spare == 0
    (remote,) = ies["IE_UserPlanePathFailureReport"].IE_list
    assert remote.ipv4 == GNB
    answer(h, report)
    # probing goes on (a round every 10 s from the first's start); no second report
    sent = h.advance(7.9)  # t = 20.1: the third round's first attempt
    assert node_reports(sent) == []
    ((peer, seq3),) = echoes(dp)
    assert peer == GNB and seq3 == (seq2 + 1) % 65536
    sent = h.advance(10.0)  # its attempts unanswered again, the next round's first sent
    assert node_reports(sent) == []
    ((_, seq4),) = echoes(dp)[-1:]
    # the peer answers the outstanding request: recovery (UPRR)
    assert dp.echo_response(GNB_IP, echo_response(seq4))
    sent = h.advance(0.2)
    (report,) = node_reports(sent)
    ies = {type(ie).__name__: ie for ie in PFCP(encode(report)).payload.IE_list}
    assert ies["IE_NodeReportType"].UPFR == 0 and ies["IE_NodeReportType"].spare == 1
    # (scapy has no User Plane Path Recovery Report: pfcpd's decoder reads it back)
    (recovery,) = decode(encode(report)).get_all(T.USER_PLANE_PATH_RECOVERY_REPORT)
    assert isinstance(recovery, Grouped)
    assert recovery.ies == [A.RemoteGTPUPeer(ipv4=GNB)]
    answer(h, report)


def test_peer_no_longer_in_use_is_not_probed(hp: Harness) -> None:
    h, dp = hp, hp.dp
    assert isinstance(dp, LocalDatapath)
    resp = h.establish()
    seid = resp.get(A.FSEID.TYPE).seid  # type: ignore[union-attr]
    h.advance(0.1)
    assert [p for p, _ in echoes(dp)] == [GNB]
    h.delete(seid)
    sent = h.advance(30.0)
    assert echoes(dp) == [] and node_reports(sent) == []


def test_only_the_failed_peer_reported(hp: Harness) -> None:
    """Two sessions, two gNBs: only the silent one's path is reported."""
    h, dp = hp, hp.dp
    assert isinstance(dp, LocalDatapath)
    h.establish()
    others = standard_rules()
    others[3] = smf_rules.dl_far(2, 0x200, OTHER)
    h.establish(*others, cp_seid=0xBEEF)
    reports: list[Message] = []
    for _ in range(120):
        reports += node_reports(h.advance(0.1))
        for peer, seq in echoes(dp):
            if peer == OTHER:
                assert dp.echo_response(ipaddress.ip_address(OTHER), echo_response(seq))
    (report,) = node_reports(reports)
    ies = {type(ie).__name__: ie for ie in PFCP(encode(report)).payload.IE_list}
    (remote,) = ies["IE_UserPlanePathFailureReport"].IE_list
    assert remote.ipv4 == GNB
    answer(h, report)


class NoEcho(LocalDatapath):
    """A datapath that sends no Echo Request (as the vpp one, so far)."""

    def send_echo(self, source: IPAddress, peer: IPAddress, seq: int) -> EchoSent:
        return EchoSent.UNSUPPORTED


class AwayThenBack(LocalDatapath):
    """A datapath that cannot send Echo Requests while ``away`` (VPP restarting, say)."""

    away = True

    def send_echo(self, source: IPAddress, peer: IPAddress, seq: int) -> EchoSent:
        if self.away:
            return EchoSent.NOT_SENT
        return super().send_echo(source, peer, seq)


def test_a_datapath_away_fails_no_path() -> None:
    """Echo Requests a datapath could not send are no attempts: no UPFR however long it is
    away; back, the path fails after N3 unanswered attempts as usual. The metrics and
    ``pfcpd show paths`` say so."""
    require_core()
    dp = AwayThenBack(expected_sessions=16)
    try:
        h = Harness(dp, gtpu_path=PATHS)
        h.establish()
        sent = h.advance(30.0)
        assert node_reports(sent) == [] and dp.take_echoes() == []
        text = h.node.metrics.registry.render()
        assert "pfcpd_gtpu_echo_requests_sent_total 0.0" in text
        (unsent,) = re.findall(r"^pfcpd_gtpu_echo_requests_unsent_total (\S+)$", text, re.M)
        assert float(unsent) >= 25  # one every T3 (1 s)
        assert 'pfcpd_gtpu_paths{state="up"} 1.0' in text
        view = h.engine.paths_view()
        assert view["enabled"] is True and view["interval"] == PATHS.interval
        assert view["paths"] == [{"peer": GNB, "state": "up", "fars": 1, "unanswered": 0}]
        dp.away = False
        # the next try within T3, then 2 attempts sent, T3 each: failed
        (report,) = node_reports(h.advance(3.5))
        assert [p for p, _ in echoes(dp)] == [GNB, GNB]
        answer(h, report)
        text = h.node.metrics.registry.render()
        assert "pfcpd_gtpu_echo_requests_sent_total 2.0" in text
        assert "pfcpd_gtpu_path_failures_total 1.0" in text
        assert 'pfcpd_gtpu_paths{state="failed"} 1.0' in text
        assert h.engine.paths_view()["paths"][0]["state"] == "failed"  # type: ignore[index]
        h.check_sent_with_tshark()
        assert h.engine.metrics.errors.get("timer") == 0
    finally:
        dp.close()


def test_a_datapath_without_echo_turns_path_management_off() -> None:
    """Nothing is reported failed for want of Echo Requests the datapath never sent."""
    require_core()
    dp = NoEcho(expected_sessions=16)
    try:
        h = Harness(dp, gtpu_path=PATHS)
        h.establish()
        sent = h.advance(40.0)
        assert node_reports(sent) == [] and dp.take_echoes() == []
        assert h.engine.metrics.errors.get("timer") == 0
        assert h.engine.paths_view() == {
            "enabled": False,
            "interval": PATHS.interval,
            "t3_response": PATHS.t3_response,
            "n3_requests": PATHS.n3_requests,
            "paths": [],
        }
        assert 'pfcpd_gtpu_paths{state="up"} 0.0' in h.node.metrics.registry.render()
        h.check_sent_with_tshark()
    finally:
        dp.close()


def test_a_modification_keeping_the_peer_neither_probes_nor_reports_again(hp: Harness) -> None:
    """The session's FAR gets another TEID at the same failed gNB: its path keeps its round
    and its failure (no Echo Request out of turn, no second UPFR)."""
    h, dp = hp, hp.dp
    assert isinstance(dp, LocalDatapath)
    resp = h.establish()
    seid = resp.get(A.FSEID.TYPE).seid  # type: ignore[union-attr]
    h.advance(0.1)
    assert len(echoes(dp)) == 1
    (report,) = node_reports(h.advance(2.5))  # 2 attempts, T3 each: failed
    answer(h, report)
    echoes(dp)
    modified = h.modify(seid, smf_rules.update_dl_far(2, 0x300, GNB))
    assert modified.get(T.CAUSE).value == 1  # type: ignore[union-attr]
    sent = h.advance(5.0)
    assert echoes(dp) == [] and node_reports(sent) == []
    sent = h.advance(10.0)  # the next rounds, unanswered: still the one failure
    assert echoes(dp) and node_reports(sent) == []


def test_a_peer_the_last_session_left_is_forgotten(hp: Harness) -> None:
    """With no session left the engine's timer still runs the path monitor, which forgets
    the peer when it is next due: a later session to it starts afresh (an Echo Request at
    once, no report of the earlier path's state)."""
    resp = hp.establish(*standard_rules())
    seid = resp.get(T.F_SEID).seid  # type: ignore[union-attr]
    hp.advance(0.1)
    assert [peer for peer, _ in echoes(hp.dp)] == [GNB]  # (the first one goes at once)
    hp.delete(seid)
    assert hp.engine.get_timer() is not None  # (the monitor still has the peer)
    sent = hp.advance(60.0)
    assert hp.engine.get_timer() is None  # (forgotten: nothing left to time)
    assert echoes(hp.dp) == [] and node_reports(sent) == []
