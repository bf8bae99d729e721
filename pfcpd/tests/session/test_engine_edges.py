"""Quotas across reports, checkpoints, rollback of a modification, retransmissions, IEs the
codec set aside, dual stack: the sans-IO node with the engine on the real local datapath."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw, raw
from session_harness import (
    DN,
    Harness,
    cause,
    created,
    dl_far,
    dl_packet,
    dl_pdr,
    dual_stack,
    establishment,
    g,
    gtpu,
    qer,
    standard_rules,
    ul_far,
    ul_packet,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.datapath.local.engine import LocalDatapath, Verdict
from pfcpd.pfcp import Grouped, IEType, MessageType, RawIE
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR

T = IEType
M = MessageType
UE = "10.45.0.1"


def _reports(sent: list) -> list[Grouped]:  # type: ignore[type-arg]
    out = []
    for m in sent:
        if m.msg_type == M.SESSION_REPORT_REQUEST:
            out += m.get_all(T.USAGE_REPORT_REPORT_REQUEST)
    return out


def test_quota_counts_across_reports_and_checkpoints(h: Harness) -> None:
    u = urr(1, "VOLTH", "VOLQU", vt=TR.VolumeThreshold(total=1000), vq=TR.VolumeQuota(total=2500))
    resp = h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), u)
    teid = created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    sent = []
    for _ in range(8):  # 1024 bytes, with checkpoints in between: the threshold still holds
        assert h.dp.process_ul(gtpu(ul_packet(UE, 100), teid)).verdict == Verdict.FORWARD
        sent += h.advance(0.6)
    (first,) = _reports(sent)
    assert first.get(T.USAGE_REPORT_TRIGGER).has("VOLTH")  # type: ignore[union-attr]
    assert first.get(T.VOLUME_MEASUREMENT).ul == 1024  # type: ignore[union-attr]
    for m in sent:
        if m.msg_type == M.SESSION_REPORT_REQUEST:
            h.answer(m)
    # 2500 - 1024 = 1476 bytes of quota are left: the 12th packet of 128 crosses it.
    verdicts = [h.dp.process_ul(gtpu(ul_packet(UE, 100), teid)).verdict for _ in range(14)]
    assert verdicts == [Verdict.FORWARD] * 12 + [Verdict.DROP] * 2
    triggers = [r.get(T.USAGE_REPORT_TRIGGER) for r in _reports(h.advance(0.2))]
    assert any(t.has("VOLQU") for t in triggers)  # type: ignore[union-attr]


def test_failed_modification_keeps_old_rules_and_the_usage(h: Harness) -> None:
    resp = h.establish()
    seid = up_seid(resp)
    teid = created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    h.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    h.journal.fail_next = 1
    gate = g(T.UPDATE_QER, S.QERID(1), TR.GateStatus(1, 1))
    resp = h.modify(seid, gate, g(T.QUERY_URR, S.URRID(1)))
    assert cause(resp) == 77 and not resp.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    assert h.dp.process_ul(gtpu(ul_packet(UE, 100), teid)).verdict == Verdict.FORWARD
    resp = h.modify(seid, g(T.QUERY_URR, S.URRID(1)))
    (rep,) = resp.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    assert rep.get(T.VOLUME_MEASUREMENT).ul == 256  # type: ignore[union-attr]
    assert rep.get(T.UR_SEQN).value == 0  # type: ignore[union-attr]


def test_retransmitted_establishment_creates_one_session(h: Harness) -> None:
    req = establishment(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1), seq=7)
    (a,) = h.exchange(req)
    (b,) = h.exchange(req)
    assert cause(a) == 1 and a == b and len(h.engine.sessions) == 1


def test_an_incorrect_ie_a_rule_needs_fails_with_69(h: Harness) -> None:
    bad_fteid = RawIE(T.F_TEID, b"\x08\x01")  # CHID without CH: set aside by the codec
    resp = h.request(establishment(ul_pdr(fteid=bad_fteid), dl_pdr(), ul_far(), dl_far(), qer()))
    assert cause(resp) == 69 and resp.get(T.OFFENDING_IE).value == T.F_TEID  # type: ignore[union-attr]
    assert h.engine.sessions == {}


def test_pdr_without_far_id_is_67(h: Harness) -> None:
    pdr = ul_pdr()
    pdr.ies = [ie for ie in pdr.ies if ie.type != T.FAR_ID]
    resp = h.request(establishment(pdr, dl_pdr(), ul_far(), dl_far(), qer(), urr(1)))
    assert cause(resp) == 67 and resp.get(T.OFFENDING_IE).value == T.FAR_ID  # type: ignore[union-attr]


def test_dual_stack_ue_from_both_pools(datapath: LocalDatapath) -> None:
    h, rules = dual_stack(datapath)
    resp = h.establish(*rules)
    assert cause(resp) == 1
    ue = created(resp)[2][T.UE_IP_ADDRESS]
    assert isinstance(ue, A.UEIPAddress)
    assert ue.ipv4 == UE and ue.ipv6 == "2001:db8:45::"
    v6 = raw(IPv6(src="2001:db8::1", dst="2001:db8:45::5") / UDP() / Raw(b"x"))
    res = h.dp.process_dl(v6)
    assert res.verdict == Verdict.FORWARD and res.pdr_id & 0xFFFF == 2
    assert h.dp.process_dl(dl_packet(UE)).verdict == Verdict.FORWARD
    _ = DN
    h.check_sent_with_tshark()


def test_up_features_advertised(h: Harness) -> None:
    from pfcpd.pfcp import Message

    setup = Message(
        M.ASSOCIATION_SETUP_REQUEST,
        9,
        [A.NodeID.from_text("smf"), S.RecoveryTimeStamp(3_900_000_000)],
    )
    (resp,) = h.exchange(setup)
    feats = resp.get(T.UP_FUNCTION_FEATURES)
    assert isinstance(feats, F.UPFunctionFeatures)
    assert set(feats.names()) == {
        *("BUCP", "DDND", "DLBD", "FTUP", "EMPU", "UEIP", "PFDM", "MNOP", "RESPS", "VTIME")
    }


def test_an_f_seid_in_use_is_refused(h: Harness) -> None:
    assert cause(h.establish(cp_seid=5)) == 1
    teids = h.engine.teids.in_use
    assert cause(h.establish(cp_seid=5)) == 64
    assert len(h.engine.sessions) == 1 and h.engine.teids.in_use == teids


def test_linked_usage_reporting(h: Harness) -> None:
    from pfcpd.pfcp import ies_scalar as S2

    linked = urr(2, "LIUSA", link=S2.LinkedURRID(1))
    threshold = urr(1, "VOLTH", vt=TR.VolumeThreshold(total=500))
    pdr = ul_pdr()
    pdr.ies.append(S.URRID(2))
    resp = h.establish(pdr, dl_pdr(), ul_far(), dl_far(), qer(), threshold, linked)
    teid = created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    for _ in range(4):
        h.dp.process_ul(gtpu(ul_packet(UE, 100), teid))
    reports = _reports(h.advance(0.2))
    triggers = {r.get(T.URR_ID).value: r.get(T.USAGE_REPORT_TRIGGER) for r in reports}  # type: ignore[union-attr]
    assert triggers[1].has("VOLTH") and triggers[2].has("LIUSA")  # type: ignore[union-attr]


def test_error_indications_for_unknown_teids_send_nothing(h: Harness) -> None:
    from scapy.contrib.gtp import IE_TEIDI, GTP_U_Header, GTPErrorIndication

    h.establish()
    for teid in range(0x1000, 0x1010):
        ei = GTP_U_Header(teid=0, gtp_type=26) / GTPErrorIndication(IE_list=[IE_TEIDI(TEIDI=teid)])
        h.dp.process_ul_gtpu(h.settings.n3_address, raw(ei))
    assert [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST] == []


def test_a_bug_is_logged_counted_and_answered_77(
    datapath: LocalDatapath, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(datapath)
    assert cause(h.establish(cp_seid=1)) == 1

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("planted bug")

    h.engine._allocate = broken  # type: ignore[method-assign]
    assert cause(h.establish(cp_seid=2)) == 77
    assert h.engine.metrics.errors.get("request") == 1
    assert "planted bug" in caplog.text
    h.engine.datapath.poll_events = broken  # type: ignore[method-assign]
    h.advance(0.2)  # the timer's bug stays in the engine: logged, counted
    assert h.engine.metrics.errors.get("timer") >= 1


def test_unsupported_rules_are_refused_not_half_applied(h: Harness) -> None:
    te = g(T.CREATE_TRAFFIC_ENDPOINT, S.TrafficEndpointID(1))
    resp = h.request(establishment(*standard_rules(), te))
    assert cause(resp) == 76 and resp.get(T.OFFENDING_IE).value == T.CREATE_TRAFFIC_ENDPOINT  # type: ignore[union-attr]
    pdr = ul_pdr()
    pdi = pdr.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies.append(S.TrafficEndpointID(1))
    resp = h.request(establishment(pdr, dl_pdr(), ul_far(), dl_far(), qer(), urr(1)))
    assert cause(resp) == 73 and resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(0, 1)
    assert h.engine.sessions == {} and h.engine.teids.in_use == 0


def test_forwarding_policy_and_header_enrichment(h: Harness) -> None:
    from pfcpd.pfcp import RawIE as Raw

    far = ul_far()
    fp = far.get(T.FORWARDING_PARAMETERS)
    assert isinstance(fp, Grouped)
    fp.ies.append(Raw(T.FORWARDING_POLICY, b"\x03pol"))
    resp = h.request(establishment(ul_pdr(), dl_pdr(), far, dl_far(), qer(), urr(1)))
    assert cause(resp) == 70 and resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(1, 1)
    assert h.engine.sessions == {}


def test_ue_pool_identity_and_predefined_rules(datapath: LocalDatapath) -> None:
    from pfcpd.pfcp import ies_text as X

    pools = {
        "internet": (ipaddress.ip_network("10.45.0.0/29"),),
        "ims": (ipaddress.ip_network("10.46.0.0/29"),),
    }
    h = Harness(datapath, pools=pools)
    ul, dl = ul_pdr(), dl_pdr()
    for pdr in (ul, dl):
        pdr.ies.append(X.UEIPAddressPoolIdentity("ims"))
    resp = h.establish(ul, dl, ul_far(), dl_far(), qer(), urr(1))
    assert created(resp)[1][T.UE_IP_ADDRESS].ipv4 == "10.46.0.1"  # type: ignore[attr-defined]
    bad = ul_pdr()
    bad.ies.append(X.UEIPAddressPoolIdentity("nowhere"))
    resp = h.request(establishment(bad, dl_pdr(), ul_far(), dl_far(), qer(), urr(1), cp_seid=2))
    assert cause(resp) == 73 and resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(0, 1)
    pre = ul_pdr()
    pre.ies.append(X.ActivatePredefinedRules("rule-a"))
    resp = h.request(establishment(pre, dl_pdr(), ul_far(), dl_far(), qer(), urr(1), cp_seid=3))
    assert cause(resp) == 80
    assert len(h.engine.sessions) == 1
    h.check_sent_with_tshark()


def test_ipv6_n3(datapath: LocalDatapath) -> None:
    from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer

    h = Harness(datapath, n3="2001:db8:3::1")
    gnb6 = "2001:db8:9::9"
    v4_only = A.FTEID(choose=True, choose_v4=True)
    resp = h.request(
        establishment(ul_pdr(fteid=v4_only), dl_pdr(), ul_far(), dl_far(), qer(), urr(1))
    )
    assert cause(resp) == 71  # the N3 address is IPv6
    far = dl_far()
    fp = far.get(T.FORWARDING_PARAMETERS)
    assert isinstance(fp, Grouped)
    fp.ies = [ie for ie in fp.ies if ie.type != T.OUTER_HEADER_CREATION] + [
        A.OuterHeaderCreation(A.OHC_GTPU_UDP_IPV6, teid=0x600, ipv6=gnb6)
    ]
    v6 = A.FTEID(choose=True, choose_v6=True)
    ul = ul_pdr(fteid=v6)
    ul.ies = [
        TR.OuterHeaderRemoval(1) if ie.type == T.OUTER_HEADER_REMOVAL else ie for ie in ul.ies
    ]
    resp = h.request(establishment(ul, dl_pdr(), ul_far(), far, qer(), urr(1), cp_seid=2))
    assert cause(resp) == 1
    fteid = created(resp)[1][T.F_TEID]
    assert isinstance(fteid, A.FTEID) and fteid.ipv6 == "2001:db8:3::1" and fteid.ipv4 is None
    assert fteid.teid is not None
    gtp = GTP_U_Header(teid=fteid.teid, gtp_type=255) / GTPPDUSessionContainer(type=1, QFI=9)
    ue = created(resp)[1][T.UE_IP_ADDRESS].ipv4  # type: ignore[attr-defined]
    assert ue == "10.45.0.2"  # .1 was taken and given back by the refused request
    outer = IPv6(src=gnb6, dst="2001:db8:3::1") / UDP(sport=2152, dport=2152) / gtp
    assert h.dp.process_ul(raw(outer / Raw(ul_packet(ue)))).verdict == Verdict.FORWARD
    out = h.dp.process_dl(dl_packet(ue))
    assert out.verdict == Verdict.FORWARD and IPv6(out.output).dst == gnb6
    assert IPv6(out.output)[GTP_U_Header].teid == 0x600
    h.check_sent_with_tshark()


def test_checkpoint_slices_are_spread_over_polls(h: Harness) -> None:
    import dataclasses

    h.engine.settings = dataclasses.replace(h.engine.settings, checkpoint_batch=1)
    teids = []
    for i in range(3):
        resp = h.establish(cp_seid=10 + i)
        teids.append(created(resp)[1][T.F_TEID].teid)  # type: ignore[attr-defined]
    for i, teid in enumerate(teids):
        h.dp.process_ul(gtpu(ul_packet(f"10.45.0.{i + 1}", 100), teid))
    commits = h.journal.commits
    now = 0.0
    for _ in range(60):  # 3 s of timer runs: never one due at once again (no busy loop)
        t = h.node.get_timer()
        assert t is not None
        now = max(now, t)
        h.node.handle_timer(now)
        h.node.datagrams_to_send()
        assert h.engine.get_timer() > now  # type: ignore[operator]
    assert h.journal.commits - commits == 3  # each session's counters journaled once
    assert all(b'"baseline":[128,' in r for r in h.records.values())


def test_a_checkpoint_reads_only_sessions_with_packets(h: Harness) -> None:
    """The datapath names the sessions it counted packets for: a checkpoint pass reads
    those only (a read costs ~30 us), and journals each changed one once."""
    teids = []
    for i in range(3):
        resp = h.establish(cp_seid=20 + i)
        teids.append(created(resp)[1][T.F_TEID].teid)  # type: ignore[attr-defined]
    h.dp.sessions_with_traffic()  # (nothing counted yet)
    reads: list[int] = []
    real_read = h.dp.read_usage

    def counting_read(seid: int, urr_id: int, reset: bool = False) -> Any:
        reads.append(seid)
        return real_read(seid, urr_id, reset)

    h.dp.read_usage = counting_read  # type: ignore[method-assign]
    h.dp.process_ul(gtpu(ul_packet("10.45.0.2", 100), teids[1]))
    commits = h.journal.commits
    now = 0.0
    for _ in range(60):  # 3 s of timer runs: at least two checkpoint passes
        t = h.node.get_timer()
        assert t is not None
        now = max(now, t)
        h.node.handle_timer(now)
        h.node.datagrams_to_send()
    second = next(seid for seid, s in h.engine.sessions.items() if s.cp_seid == 21)
    assert set(reads) == {second}  # the idle sessions were never read
    assert h.journal.commits - commits == 1
    assert b'"baseline":[128,' in h.journal.records[f"s:{second:x}"]
