"""A Session Modification Request that removes a rule and creates one with the same ID
(Remove X n and Create X n in one message) replaces the rule. TS 29.244 6.3.3.2 asks the
CP not to send several changes of one rule in one request; a request that does anyway is
done as it says, the removal first, then the creation, of a rule as new as any other
(5.6.3: the UP function adds and removes the rules as instructed). A replaced URR's
measurement ends with its final Usage Report in the response (TERMR, 5.2.2.3.1), the new
one's starts afresh with its own rule (counts from 0, UR-SEQN 0, its triggers and limits).
The other pairs of changes of one rule are refused (73, Failed Rule ID): an update of the
rule the request removes, or of one it creates, and a creation of a rule the session has.
Every message checked is decoded by the codec; the harness has tshark read every message
sent."""

from __future__ import annotations

import pytest
from scapy.contrib.gtp import GTP_U_Header
from scapy.layers.inet import IP
from session_harness import (
    Harness,
    cause,
    created,
    dl_far,
    dl_packet,
    dl_pdr,
    g,
    gtpu,
    ohc,
    qer,
    restarted,
    ul_far,
    ul_packet,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.datapath.interface import DatapathError, SessionProgram
from pfcpd.datapath.local.engine import Verdict
from pfcpd.pfcp import IE, Grouped, IEType, Message, MessageType
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.session.usage import ZERO

T = IEType
M = MessageType
UE = "10.45.0.1"
PACKET = 128  # octets of a `ul_packet(UE, 100)` as the URR counts it


def _session(h: Harness, *rules: IE) -> tuple[int, int]:
    resp = h.establish(*rules)
    assert cause(resp) == 1
    fteid = created(resp)[1][T.F_TEID]
    assert isinstance(fteid, A.FTEID) and fteid.teid is not None
    return up_seid(resp), fteid.teid


def _ul(h: Harness, teid: int, packets: int) -> None:
    for _ in range(packets):
        assert h.dp.process_ul(gtpu(ul_packet(UE, 100), teid)).verdict == Verdict.FORWARD


def _reports(resp: Message) -> list[Grouped]:
    out = [r for r in resp.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)]
    assert all(isinstance(r, Grouped) for r in out)
    return out  # type: ignore[return-value]


def _report(ur: Grouped) -> tuple[int, int, set[str], int | None]:
    """(URR ID, UR-SEQN, triggers, total octets) of a Usage Report."""
    trigger = ur.get(T.USAGE_REPORT_TRIGGER)
    assert isinstance(trigger, F.UsageReportTrigger)
    vm = ur.get(T.VOLUME_MEASUREMENT)
    total = vm.total if isinstance(vm, TR.VolumeMeasurement) else None
    names = {n for n in ("TERMR", "IMMER", "VOLTH", "PERIO", "VOLQU") if trigger.has(n)}
    return ur.get(T.URR_ID).value, ur.get(T.UR_SEQN).value, names, total  # type: ignore[union-attr]


def _usar(sent: list[Message]) -> list[Grouped]:
    return [
        r
        for m in sent
        if m.msg_type == M.SESSION_REPORT_REQUEST
        for r in m.get_all(T.USAGE_REPORT_REPORT_REQUEST)
        if isinstance(r, Grouped)
    ]


OLD_URR = urr(1, "VOLTH", vt=TR.VolumeThreshold(total=1000))
# The new rule: another threshold, and a periodic report (the old one has none).
NEW_URR = urr(1, "VOLTH", "PERIO", vt=TR.VolumeThreshold(total=500), mp=S.MeasurementPeriod(60))
SWAP = (g(T.REMOVE_URR, S.URRID(1)), NEW_URR)


def _urr_session(h: Harness) -> tuple[int, int]:
    """A session whose URR 1 reports a volume threshold of 1000 octets, with one report
    sent (UR-SEQN 0) and 7 packets counted since (896 octets)."""
    seid, teid = _session(h, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), OLD_URR)
    _ul(h, teid, 1)
    (query,) = _reports(h.modify(seid, g(T.QUERY_URR, S.URRID(1))))
    assert _report(query) == (1, 0, {"IMMER"}, PACKET)
    _ul(h, teid, 7)
    return seid, teid


def test_a_replaced_urr_reports_its_final_counts_and_the_new_one_measures_afresh(
    h: Harness,
) -> None:
    seid, teid = _urr_session(h)
    resp = h.modify(seid, *SWAP)
    assert cause(resp) == 1
    (final,) = _reports(resp)
    assert _report(final) == (1, 1, {"TERMR"}, 7 * PACKET)
    book = h.engine.sessions[seid].urrs[1]
    assert (book.seqn, book.baseline, book.consumed) == (0, ZERO, ZERO)
    assert book.reports("PERIO") and book.period == 60 and book.next_periodic == h.now + 60
    # The new threshold (500) counts from the replacement: 896 + 384 octets would cross
    # the old one (1000), 384 do not cross the new one.
    _ul(h, teid, 3)
    assert _usar(h.advance(0.2)) == []
    _ul(h, teid, 1)
    sent = h.advance(0.2)
    (volth,) = _usar(sent)
    assert _report(volth) == (1, 0, {"VOLTH"}, 4 * PACKET)
    h.answer_all(sent)
    (query,) = _reports(h.modify(seid, g(T.QUERY_URR, S.URRID(1))))
    assert _report(query) == (1, 1, {"IMMER"}, 0)


def test_a_replaced_urr_takes_the_new_rules_triggers(h: Harness) -> None:
    """The old rule reports a threshold; the new one only periodically: what the datapath
    counts past the old threshold is no report. (The Create URR comes first in the message:
    the removal is done first all the same.)"""
    seid, teid = _urr_session(h)
    periodic = urr(1, "PERIO", mp=S.MeasurementPeriod(60))
    resp = h.modify(seid, periodic, g(T.REMOVE_URR, S.URRID(1)))
    assert cause(resp) == 1
    assert [_report(r) for r in _reports(resp)] == [(1, 1, {"TERMR"}, 7 * PACKET)]
    book = h.engine.sessions[seid].urrs[1]
    assert not book.reports("VOLTH") and book.reports("PERIO")
    _ul(h, teid, 10)
    assert _usar(h.advance(0.2)) == []
    sent = h.advance(60.0)
    (perio,) = _usar(sent)
    assert _report(perio) == (1, 0, {"PERIO"}, 10 * PACKET)
    h.answer_all(sent)


def test_a_threshold_event_of_the_replaced_urr_is_not_the_new_ones(h: Harness) -> None:
    """The old URR's threshold is crossed, its event not yet handled, when the request
    replaces it: those counts go into the final report (TERMR); the event, raised before,
    is no report of the new URR (whose threshold its counts have not reached)."""
    seid, teid = _urr_session(h)
    _ul(h, teid, 1)  # 1024 octets since the query: the old threshold (1000) is crossed
    resp = h.modify(seid, *SWAP)
    assert [_report(r) for r in _reports(resp)] == [(1, 1, {"TERMR"}, 8 * PACKET)]
    assert _usar(h.advance(0.2)) == []
    _ul(h, teid, 4)
    sent = h.advance(0.2)
    assert [_report(r) for r in _usar(sent)] == [(1, 0, {"VOLTH"}, 4 * PACKET)]
    h.answer_all(sent)


def test_a_rolled_back_urr_replacement_puts_back_the_old_urr_and_its_counts(h: Harness) -> None:
    """The journal refuses the batch: no report was sent (the response is a refusal); the
    old URR is back with its rule, its UR-SEQN and every count (those the final report read
    kept as its baseline), reported once, by the next report."""
    seid, teid = _urr_session(h)
    old = h.engine.sessions[seid].urrs[1]
    h.journal.fail_next = 1
    resp = h.modify(seid, *SWAP)
    assert cause(resp) != 1 and _reports(resp) == []
    book = h.engine.sessions[seid].urrs[1]
    assert book is old and book.seqn == 1 and book.reports("VOLTH") and not book.reports("PERIO")
    assert book.baseline.values[:3] == (7 * PACKET, 7 * PACKET, 0)
    rule = h.engine.sessions[seid].rules.urr[1]
    assert rule.get(T.MEASUREMENT_PERIOD) is None
    _ul(h, teid, 1)
    resp = h.modify(seid, *SWAP)
    assert cause(resp) == 1
    assert [_report(r) for r in _reports(resp)] == [(1, 1, {"TERMR"}, 8 * PACKET)]
    book = h.engine.sessions[seid].urrs[1]
    assert (book.seqn, book.baseline) == (0, ZERO) and book.reports("PERIO")


def test_a_rolled_back_urr_replacement_reports_the_old_urrs_crossed_threshold_once(
    h: Harness,
) -> None:
    """The old URR's threshold is crossed, its event not yet handled, when the request that
    would replace it is rolled back: the old URR reports it (VOLTH) once, with every count;
    the new URR's marks of late events are not the old one's."""
    seid, teid = _urr_session(h)
    _ul(h, teid, 1)  # 1024 octets since the query: the old threshold (1000) is crossed
    h.journal.fail_next = 1
    assert cause(h.modify(seid, *SWAP)) != 1
    sent = h.advance(0.2)
    assert [_report(r) for r in _usar(sent)] == [(1, 1, {"VOLTH"}, 8 * PACKET)]
    h.answer_all(sent)
    assert _usar(h.advance(1.0)) == []


def test_a_urr_replacement_refused_by_the_datapath_leaves_the_old_urr(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The datapath refuses the new program, naming the URR: 73 with its Failed Rule ID
    (TS 29.244 Table 7.5.5.1-1); the old URR keeps its rule, its UR-SEQN and its counts
    (read for the final report, kept as its baseline), reported once."""
    seid, teid = _urr_session(h)
    old = h.engine.sessions[seid].urrs[1]
    install = h.dp.install
    refused: list[int] = []

    def refuse(
        seid: int, program: SessionProgram, end_markers: frozenset[int] = frozenset()
    ) -> None:
        """Refuses the first program with the new URR (its threshold: 500 octets)."""
        thresholds = [u.volume_threshold for u in program.urrs]
        if not refused and thresholds == [(500, 0, 0)]:
            refused.append(seid)
            raise DatapathError("URR 1 refused", (3, 1))
        install(seid, program, end_markers)

    monkeypatch.setattr(h.dp, "install", refuse)
    resp = h.modify(seid, *SWAP)
    assert refused == [seid]
    assert cause(resp) == 73 and _reports(resp) == []
    assert resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(3, 1)
    book = h.engine.sessions[seid].urrs[1]
    assert book is old and book.seqn == 1 and book.reports("VOLTH")
    assert book.baseline.values[:3] == (7 * PACKET, 7 * PACKET, 0)
    _ul(h, teid, 1)
    (query,) = _reports(h.modify(seid, g(T.QUERY_URR, S.URRID(1))))
    assert _report(query) == (1, 1, {"IMMER"}, 8 * PACKET)
    (query,) = _reports(h.modify(seid, g(T.QUERY_URR, S.URRID(1))))
    assert _report(query) == (1, 2, {"IMMER"}, 0)


def test_a_replaced_urr_is_the_new_rules_after_a_restart(h: Harness) -> None:
    seid, _ = _urr_session(h)
    assert cause(h.modify(seid, *SWAP)) == 1
    with restarted(h, 1) as engine:
        book = engine.sessions[seid].urrs[1]
        assert (book.seqn, book.baseline, book.consumed) == (0, ZERO, ZERO)
        assert book.reports("PERIO") and book.period == 60
        rule = engine.sessions[seid].rules.urr[1]
        assert rule.get(T.MEASUREMENT_PERIOD) == S.MeasurementPeriod(60)


def test_a_replaced_pdr_is_the_new_rule_with_its_own_f_teid(h: Harness) -> None:
    seid, teid = _session(h, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1))
    teids = h.engine.teids
    new_pdr = ul_pdr(urr=None, ue=A.UEIPAddress(ipv4=UE, source=True))
    resp = h.modify(seid, g(T.REMOVE_PDR, S.PDRID(1)), new_pdr)
    assert cause(resp) == 1
    fteid = created(resp)[1][T.F_TEID]
    assert isinstance(fteid, A.FTEID) and fteid.teid not in (None, teid)
    assert h.dp.process_ul(gtpu(ul_packet(UE), fteid.teid)).verdict == Verdict.FORWARD
    assert h.dp.process_ul(gtpu(ul_packet(UE), teid)).verdict != Verdict.FORWARD
    assert h.engine.sessions[seid].teids == (fteid.teid,)
    # the new PDR names no URR: its traffic is not counted
    (query,) = _reports(h.modify(seid, g(T.QUERY_URR, S.URRID(1))))
    assert _report(query) == (1, 0, {"IMMER"}, 0)
    assert teids.in_use == 1  # (the old one freed)


def test_a_replaced_far_forwards_as_the_new_rule_says(h: Harness) -> None:
    seid, _ = _session(h, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1))
    far = g(
        T.CREATE_FAR,
        S.FARID(2),
        F.ApplyAction.of("FORW"),
        g(T.FORWARDING_PARAMETERS, S.DestinationInterface(0), ohc(0x777, "192.0.2.20")),
    )
    resp = h.modify(seid, g(T.REMOVE_FAR, S.FARID(2)), far)
    assert cause(resp) == 1
    out = IP(h.dp.process_dl(dl_packet(UE)).output)
    assert out.dst == "192.0.2.20" and out[GTP_U_Header].teid == 0x777


def test_a_replaced_qer_gates_as_the_new_rule_says(h: Harness) -> None:
    seid, teid = _session(h, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1))
    resp = h.modify(seid, g(T.REMOVE_QER, S.QERID(1)), qer(1, open_=False))
    assert cause(resp) == 1
    assert h.dp.process_ul(gtpu(ul_packet(UE), teid)).verdict == Verdict.DROP


def test_a_replaced_bar_has_none_of_the_old_bars_buffering_duration(h: Harness) -> None:
    """The CP gave the old BAR a DL Buffering Duration (Update BAR of a Session Report
    Response): the BAR created in its place has its own values only."""
    bar = g(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(10))
    rules = [ul_pdr(), dl_pdr(), ul_far(), dl_far(action="BUFF+NOCP", bar=1), qer(), urr(1), bar]
    seid, _ = _session(h, *rules)
    h.dp.process_dl(dl_packet(UE, 10))
    (report,) = [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST]
    update = g(T.UPDATE_BAR_SESSION_REPORT_RESPONSE, S.BARID(1), S.DLBufferingDuration(0, 2))
    h.answer(report, 1, update)
    old = h.dp._programs[seid].bar
    assert old is not None and (old.max_packets, old.duration_ns) == (10, 4 * 10**9)
    new_bar = g(
        T.CREATE_BAR,
        S.BARID(1),
        S.SuggestedBufferingPacketsCount(3),
        S.DownlinkDataNotificationDelay(2),
    )
    resp = h.modify(seid, g(T.REMOVE_BAR, S.BARID(1)), new_bar)
    assert cause(resp) == 1
    now = h.dp._programs[seid].bar
    assert now is not None and (now.max_packets, now.duration_ns) == (3, 0)
    assert h.engine.sessions[seid].ddn_delay == 0.1
    with restarted(h, 1) as engine:
        assert engine.sessions[seid].bar_duration_s is None


@pytest.mark.parametrize(
    ("ies", "failed"),
    [
        # removed first: then no such rule to update
        ((g(T.REMOVE_URR, S.URRID(1)), g(T.UPDATE_URR, S.URRID(1))), (TR.RULE_ID_URR, 1)),
        # updated before it is created: no such rule
        (
            (g(T.UPDATE_FAR, S.FARID(3), F.ApplyAction.of("DROP")), ul_far(3)),
            (TR.RULE_ID_FAR, 3),
        ),
        # updated, then created again: it exists
        ((g(T.UPDATE_QER, S.QERID(1)), qer(1, open_=False)), (TR.RULE_ID_QER, 1)),
        ((ul_pdr(pdr_id=2),), (TR.RULE_ID_PDR, 2)),
    ],
)
def test_other_changes_of_one_rule_in_one_request_are_refused(
    h: Harness, ies: tuple[IE, ...], failed: tuple[int, int]
) -> None:
    seid, teid = _session(h, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1))
    record = h.journal.records[f"s:{seid:x}"]
    resp = h.modify(seid, *ies)
    assert cause(resp) == 73 and resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(*failed)
    assert h.journal.records[f"s:{seid:x}"] == record
    assert h.dp.process_ul(gtpu(ul_packet(UE), teid)).verdict == Verdict.FORWARD


def test_a_replaced_urr_s_time_quota_is_a_new_one(ht: Harness) -> None:
    """A URR whose Time Quota (metered by the datapath) is used up and reported is removed
    and created again with the same Time Quota: the new URR's quota is a new grant, its
    traffic forwarded until that quota is used up and reported in turn (the datapath keeps
    a URR's state by ID: the replacement's count of grants differs, so it re-arms)."""
    h = ht
    seid, teid = _session(
        h, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1, "TIMQU", tq=S.TimeQuota(2))
    )
    packet = gtpu(ul_packet(UE), teid)
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
    sent = h.advance(2.5)
    assert [r.get(T.USAGE_REPORT_TRIGGER).names() for r in _usar(sent)] == [["TIMQU"]]  # type: ignore[union-attr]
    h.answer_all(sent)
    assert h.dp.process_ul(packet).verdict == Verdict.DROP
    resp = h.modify(seid, g(T.REMOVE_URR, S.URRID(1)), urr(1, "TIMQU", tq=S.TimeQuota(2)))
    assert cause(resp) == 1
    assert h.dp.process_ul(packet).verdict == Verdict.FORWARD
    sent = h.advance(2.5)
    assert [r.get(T.USAGE_REPORT_TRIGGER).names() for r in _usar(sent)] == [["TIMQU"]]  # type: ignore[union-attr]
    h.answer_all(sent)
    assert h.dp.process_ul(packet).verdict == Verdict.DROP
