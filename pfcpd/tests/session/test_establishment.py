"""Session establishment and deletion through the node, on the real local datapath."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

from scapy.contrib.gtp import GTP_U_Header
from scapy.layers.inet import IP
from session_harness import (
    N3,
    Harness,
    cause,
    created,
    dl_far,
    dl_packet,
    dl_pdr,
    establishment,
    g,
    gtpu,
    qer,
    replaced,
    restarted,
    ul_far,
    ul_packet,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.datapath.local.engine import LocalDatapath, Verdict
from pfcpd.pfcp import Grouped, IEType, Message
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.pfcp.ie import IE
from pfcpd.pfcp.ies_traffic import FailedRuleID
from pfcpd.session import MemoryJournal, SessionEngine

T = IEType


def test_establish_allocates_and_forwards_then_delete_reports_usage(h: Harness) -> None:
    resp = h.establish()
    assert cause(resp) == 1
    seid = up_seid(resp)
    c = created(resp)
    fteid1 = c[1][T.F_TEID]
    ue1, ue2 = c[1][T.UE_IP_ADDRESS], c[2][T.UE_IP_ADDRESS]
    assert isinstance(fteid1, A.FTEID) and fteid1.ipv4 == "192.0.2.1" and fteid1.teid
    assert isinstance(ue1, A.UEIPAddress) and isinstance(ue2, A.UEIPAddress)
    assert ue1.ipv4 == ue2.ipv4 == "10.45.0.1" and ue1.source and not ue2.source
    ue = ue1.ipv4
    assert fteid1.teid is not None
    # Uplink: GTP-U on the allocated F-TEID, from the allocated UE address.
    res = h.dp.process_ul(gtpu(ul_packet(ue, 100), fteid1.teid))
    assert res.verdict == Verdict.FORWARD and IP(res.output).src == ue
    # Downlink: encapsulated towards the gNB's F-TEID of FAR 2.
    res = h.dp.process_dl(dl_packet(ue, 200))
    assert res.verdict == Verdict.FORWARD
    assert IP(res.output)[GTP_U_Header].teid == 0x100
    resp = h.delete(seid)
    assert cause(resp) == 1 and resp.seid == 0xC0FFEE
    (report,) = resp.get_all(T.USAGE_REPORT_DELETION_RESPONSE)
    assert isinstance(report, Grouped)
    vm = report.get(T.VOLUME_MEASUREMENT)
    assert (vm.ul, vm.dl, vm.total_packets) == (128, 228, 2)  # type: ignore[union-attr]
    assert report.get(T.USAGE_REPORT_TRIGGER).has("TERMR")  # type: ignore[union-attr]
    assert h.engine.teids.in_use == 0 and sum(h.engine.ue_pools.usage().values()) == 0
    assert h.dp.process_dl(dl_packet(ue)).verdict == Verdict.DROP
    assert h.records == {}
    assert cause(h.delete(seid)) == 65


def test_choose_id_shares_one_fteid_and_sessions_get_distinct_ones(h: Harness) -> None:
    rules = [
        ul_pdr(1),
        ul_pdr(3, sdf="permit out 17 from any to assigned"),
        dl_pdr(),
        ul_far(),
        dl_far(),
        qer(),
        urr(1, "VOLTH", v=TR.VolumeThreshold(total=10**9)),
    ]
    c = created(h.establish(*rules))
    assert c[1][T.F_TEID] == c[3][T.F_TEID]
    c2 = created(h.establish(cp_seid=2))
    assert c2[1][T.F_TEID] != c[1][T.F_TEID]
    assert c2[1][T.UE_IP_ADDRESS] != c[1][T.UE_IP_ADDRESS]


def _refused(h: Harness, *rules: object) -> tuple[int, list[object]]:
    resp = h.request(establishment(*rules))  # type: ignore[arg-type]
    assert h.engine.sessions == {} and h.engine.teids.in_use == 0
    assert sum(h.engine.ue_pools.usage().values()) == 0 and h.records == {}
    return cause(resp), [ie for ie in resp.ies if ie.type in (T.OFFENDING_IE, T.FAILED_RULE_ID)]


def test_missing_rule_references_are_73_with_the_failed_rule(h: Harness) -> None:
    c, extra = _refused(h, ul_pdr(far_id=9), dl_pdr(), ul_far(), dl_far(), qer(), urr(1))
    assert c == 73 and extra == [FailedRuleID(1, 9)]
    c, extra = _refused(h, ul_pdr(qer=5), dl_pdr(), ul_far(), dl_far(), qer(), urr(1))
    assert c == 73 and extra == [FailedRuleID(2, 5)]
    c, extra = _refused(h, ul_pdr(urr=7), dl_pdr(), ul_far(), dl_far(), qer(), urr(1))
    assert c == 73 and extra == [FailedRuleID(3, 7)]
    c, extra = _refused(h, ul_pdr(), dl_pdr(), ul_far(), dl_far(bar=3), qer(), urr(1))
    assert c == 73 and extra == [FailedRuleID(4, 3)]


def test_duplicate_rule_ids_are_refused(h: Harness) -> None:
    c, extra = _refused(h, ul_pdr(1), dl_pdr(1), ul_far(), dl_far(), qer(), urr(1))
    assert c == 73 and extra == [FailedRuleID(0, 1)]
    c, extra = _refused(h, ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1), urr(1))
    assert c == 73 and extra == [FailedRuleID(3, 1)]


def _given(pdr: Grouped, address: str, source: bool = False) -> Grouped:
    """``pdr`` with a UE IP Address the CP gives (no CHV4)."""
    pdi = pdr.get(T.PDI)
    assert isinstance(pdi, Grouped)
    ue = A.UEIPAddress(address, source=source)
    pdi.ies = [ie for ie in pdi.ies if ie.type != T.UE_IP_ADDRESS] + [ue]
    return pdr


def _failed(resp: Message) -> list[IE]:
    return [ie for ie in resp.ies if ie.type in (T.OFFENDING_IE, T.FAILED_RULE_ID)]


def test_a_given_ue_address_another_session_holds_is_73_naming_the_pdr(h: Harness) -> None:
    """TS 29.244 Table 7.5.3.1-1 (and 7.5.5.1-1), Failed Rule ID: "This IE shall be
    included if the Cause IE indicates a rejection due to a rule creation or modification
    failure". A PDR given (without CHV4) the UE address a pool allocated to another
    session cannot be created (its downlink would be the other session's): 73, naming that
    PDR, in an establishment and in a modification, and nothing is left of the request. A
    session giving a PDR its own address again is accepted."""
    first = h.establish(cp_seid=1)
    assert cause(first) == 1
    ue = created(first)[2][T.UE_IP_ADDRESS]
    assert isinstance(ue, A.UEIPAddress) and ue.ipv4 == "10.45.0.1"
    rules = (ul_far(), dl_far(teid=0x999), qer(), urr(1))
    resp = h.establish(_given(ul_pdr(), "10.45.0.1", True), _given(dl_pdr(), "10.45.0.1"), *rules)
    assert cause(resp) == 73 and _failed(resp) == [FailedRuleID(0, 1)], resp
    assert len(h.engine.sessions) == 1 and h.engine.teids.in_use == 1
    second = up_seid(h.establish(cp_seid=2))  # (10.45.0.2)
    resp = h.modify(second, _given(dl_pdr(3), "10.45.0.1"))
    assert cause(resp) == 73 and _failed(resp) == [FailedRuleID(0, 3)], resp
    own = _given(dl_pdr(), "10.45.0.2")
    assert cause(h.modify(second, g(T.UPDATE_PDR, *own.ies))) == 1


def _given_ue(address: str) -> list[IE]:
    """Rules whose PDRs are given (no CHV4) UE address ``address``."""
    pdrs = [_given(ul_pdr(), address, True), _given(dl_pdr(), address)]
    return [*pdrs, ul_far(), dl_far(), qer(), urr(1)]


def _ue_of(resp: Message) -> str:
    """The UE address chosen for an establishment (CHV4), from its Created PDR."""
    ue = created(resp)[2][T.UE_IP_ADDRESS]
    assert isinstance(ue, A.UEIPAddress) and ue.ipv4 is not None
    return ue.ipv4


def test_a_given_ue_address_inside_a_pool_is_taken_from_it(h: Harness) -> None:
    """TS 29.244 5.21.1: the CP gives the UE address (a UE IP Address without CHV4) or asks
    the UP function to allocate one (CHV4). An address the CP gives inside a UE pool of the
    PDR's network instance is the session's while it lives: the pool never hands it to a
    session asking for one (its downlink would be the first's), after a restart too, and
    takes it back when the session is deleted. Likewise an address a Session Modification
    gives (Create PDR), freed with the PDR that had it (Remove PDR) or with the refused
    modification that gave it."""
    given = h.establish(*_given_ue("10.45.0.1"), cp_seid=1)
    assert cause(given) == 1
    pools = h.engine.ue_pools
    one, five = ip_network("10.45.0.1/32"), ip_network("10.45.0.5/32")
    assert pools.taken("internet", one) and pools.usage() == {"internet:10.45.0.0/29": 1}
    chosen = h.establish(cp_seid=2)
    assert cause(chosen) == 1 and _ue_of(chosen) != "10.45.0.1", chosen
    second = up_seid(chosen)
    # A modification's Create PDR gives 10.45.0.5: taken; refused (journal), given back.
    h.journal.fail_next = 1
    assert cause(h.modify(second, _given(dl_pdr(3), "10.45.0.5"))) == 77
    assert not pools.taken("internet", five)
    assert cause(h.modify(second, _given(dl_pdr(3), "10.45.0.5"))) == 1
    assert pools.taken("internet", five)
    with restarted(h, 2) as engine:
        assert engine.ue_pools.taken("internet", one) and engine.ue_pools.taken("internet", five)
        assert engine.ue_pools.usage() == {"internet:10.45.0.0/29": 3}
    assert cause(h.modify(second, g(T.REMOVE_PDR, S.PDRID(3)))) == 1
    assert not pools.taken("internet", five)
    assert cause(h.delete(up_seid(given))) == 1
    assert not pools.taken("internet", one) and pools.usage() == {"internet:10.45.0.0/29": 1}
    # Free again: given to another session, or chosen for one.
    assert cause(h.establish(*_given_ue("10.45.0.1"), cp_seid=3)) == 1


def test_a_given_ue_address_is_checked_and_taken_for_every_request_of_its_shape(
    h: Harness,
) -> None:
    """TS 29.244 5.21.1 and Table 7.5.3.1-1: requests of one shape (the same octets: the
    same given UE address) are established from what the engine learnt of the shape
    (`EstablishmentShape`). The address the CP gives is still checked and taken for each:
    the third request of the shape, its first two deleted, takes 10.45.0.1 from the pool
    (a CHV4 session then gets another), and the fourth, while the third lives, is refused
    73 naming its PDR as the first of them would be."""
    for cp_seid in (1, 2):
        resp = h.establish(*_given_ue("10.45.0.1"), cp_seid=cp_seid)
        assert cause(resp) == 1
        assert cause(h.delete(up_seid(resp))) == 1
    assert cause(h.establish(*_given_ue("10.45.0.1"), cp_seid=3)) == 1
    assert h.engine.ue_pools.taken("internet", ip_network("10.45.0.1/32"))
    chosen = h.establish(cp_seid=4)
    assert cause(chosen) == 1 and _ue_of(chosen) != "10.45.0.1", chosen
    resp = h.establish(*_given_ue("10.45.0.1"), cp_seid=5)
    assert cause(resp) == 73 and _failed(resp) == [FailedRuleID(0, 1)], resp
    assert len(h.engine.sessions) == 2


def test_a_datapath_refusal_naming_no_rule_is_77(h: Harness) -> None:
    """TS 29.244 Table 7.5.3.1-1: 73 "Rule creation/modification Failure" carries the
    Failed Rule ID of the rule. The datapath refuses a session whose UE address (the CP's,
    outside the UE pools) another session has; its refusal names no rule, so it is 77
    "System failure" (as a refusal at the datapath's barrier is), without a Failed Rule
    ID, and nothing is left of the request."""
    given = ("10.200.0.1", True), ("10.200.0.1", False)
    assert cause(h.establish(*_given_rules(given), cp_seid=1)) == 1
    resp = h.establish(*_given_rules(given), cp_seid=2)
    assert cause(resp) == 77 and _failed(resp) == [], resp
    assert len(h.engine.sessions) == 1 and h.engine.teids.in_use == 1


def _given_rules(given: tuple[tuple[str, bool], ...]) -> list[IE]:
    (ul, ul_source), (dl, _) = given
    pdrs = [_given(ul_pdr(), ul, ul_source), _given(dl_pdr(), dl)]
    return [*pdrs, ul_far(), dl_far(), qer(), urr(1)]


def _with_pools(pdr: Grouped, ue: A.UEIPAddress, *identities: str) -> Grouped:
    """``pdr`` with UE IP Address ``ue`` and the UE IP address Pool Identities given."""
    pdi = pdr.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies = [ie for ie in pdi.ies if ie.type != T.UE_IP_ADDRESS] + [ue]
    pdr.ies += [X.UEIPAddressPoolIdentity(i) for i in identities]
    return pdr


def test_separate_ipv4_and_ipv6_pool_identities_are_both_used(datapath: LocalDatapath) -> None:
    """TS 29.244 Table 7.5.2.2-1 (Create PDR), UE IP address Pool Identity: "Two IEs with
    the same IE type shall be present to represent UE IPv4 Address Pool Identity and UE
    IPv6 Address Pool Identity if different pool identities are used for UE IPv4 address
    and UE IPv6 address and both an UE IPv4 and an UE IPv6 address are requested to be
    assigned for the PFCP session. In this case, the UE IPv4 Address Pool Identity shall be
    encoded before the UE IPv6 Address Pool Identity." A dual-stack establishment (CHV4 and
    CHV6) naming "v4pool" (IPv4 pools only) then "v6pool" (IPv6 only) gets its address
    from the first and its prefix from the second."""
    pools = {
        "internet": (ip_network("10.99.0.0/29"),),
        "v4pool": (ip_network("10.45.0.0/29"),),
        "v6pool": (ip_network("2001:db8:45::/48"),),
    }
    h = Harness(datapath, pools=pools)
    both = A.UEIPAddress(source=True, choose_v4=True, choose_v6=True)
    ul = _with_pools(ul_pdr(), both, "v4pool", "v6pool")
    dl = _with_pools(dl_pdr(), A.UEIPAddress(choose_v4=True, choose_v6=True), "v4pool", "v6pool")
    try:
        resp = h.establish(ul, dl, ul_far(), dl_far(), qer(), urr(1))
        assert cause(resp) == 1, resp
        for pdr_id in (1, 2):
            ue = created(resp)[pdr_id][T.UE_IP_ADDRESS]
            assert isinstance(ue, A.UEIPAddress) and ue.ipv4 is not None and ue.ipv6 is not None
            assert ip_address(ue.ipv4) in pools["v4pool"][0]
            assert ip_address(ue.ipv6) in pools["v6pool"][0]
        assert cause(h.establish(cp_seid=2)) == 1  # (no IPv6 asked: the PDI's instance)
    finally:
        h.check_sent_with_tshark()


def test_a_cp_seid_in_use_is_refused_until_its_session_is_deleted(h: Harness) -> None:
    first = h.establish(cp_seid=0xC0FFEE)
    assert cause(first) == 1
    other = h.establish(cp_seid=0xC0FFEF)
    assert cause(other) == 1
    again = h.establish(cp_seid=0xC0FFEE)  # (the CP's F-SEID names a session it has here)
    assert cause(again) == 64 and again.seid == 0xC0FFEE
    assert cause(h.delete(up_seid(first))) == 1
    assert cause(h.delete(up_seid(other))) == 1
    assert h.engine._by_cp == {}  # (no per-CP index left for a CP without sessions)
    assert cause(h.establish(cp_seid=0xC0FFEE)) == 1


def test_costly_and_bad_flow_descriptions(h: Harness) -> None:
    ports = ",".join(str(p) for p in range(1, 40, 2))
    costly = f"permit out 6 from any {ports} to assigned {ports}"
    c, extra = _refused(h, ul_pdr(sdf=costly), dl_pdr(), ul_far(), dl_far(), qer(), urr(1))
    assert c == 73 and extra == [FailedRuleID(0, 1)]
    bad = "permit out 6 from nowhere to assigned"
    c, extra = _refused(h, ul_pdr(sdf=bad), dl_pdr(), ul_far(), dl_far(), qer(), urr(1))
    assert c == 69 and [e.value for e in extra] == [T.SDF_FILTER]  # type: ignore[attr-defined]


def test_fteid_option_and_exhaustion(h: Harness) -> None:
    v6_only = A.FTEID(choose=True, choose_v6=True)
    c, extra = _refused(h, ul_pdr(fteid=v6_only), dl_pdr(), ul_far(), dl_far(), qer(), urr(1))
    assert c == 71 and [e.value for e in extra] == [T.F_TEID]  # type: ignore[attr-defined]
    for i in range(6):  # the /29 pool holds 6 UE addresses
        assert cause(h.establish(cp_seid=100 + i)) == 1
    teids = h.engine.teids.in_use
    resp = h.establish(cp_seid=200)
    assert cause(resp) == 79
    assert h.engine.teids.in_use == teids and len(h.engine.sessions) == 6


def test_fteid_ch_without_an_ip_version_gets_our_n3_address(h: Harness) -> None:
    """TS 29.244 8.2.3: with CH the UP function assigns an F-TEID with an IPv4 or an IPv6
    address as V4 or V6 asks; an SMF that sets neither (public capture
    pfcp-5gsa-pdu-establishment.pcap) leaves the version to the UP function: our N3
    address's, as a UP function answered it there. Read back from the Created PDR."""
    resp = h.establish(
        ul_pdr(fteid=A.FTEID(choose=True)), dl_pdr(), ul_far(), dl_far(), qer(), urr(1)
    )
    assert cause(resp) == 1
    fteid = created(resp)[1][T.F_TEID]
    assert isinstance(fteid, A.FTEID) and fteid.ipv4 == str(N3) and fteid.ipv6 is None
    ue = created(resp)[1][T.UE_IP_ADDRESS].ipv4  # type: ignore[attr-defined]
    assert h.dp.process_ul(gtpu(ul_packet(ue), fteid.teid or 0)).verdict == Verdict.FORWARD


def test_journal_failure_is_77_and_leaves_nothing(h: Harness) -> None:
    h.journal.fail_next = 1
    resp = h.establish()
    assert cause(resp) == 77
    assert h.engine.sessions == {} and h.engine.teids.in_use == 0
    assert h.dp.process_dl(dl_packet("10.45.0.1")).verdict == Verdict.DROP
    assert cause(h.establish()) == 1  # and the same request works once the journal does


def test_unknown_network_instance_and_forw_without_parameters(h: Harness) -> None:
    from pfcpd.pfcp import ies_scalar as S

    far = Grouped(T.CREATE_FAR, [S.FARID(1), F.ApplyAction.of("FORW")])
    c, extra = _refused(h, ul_pdr(), dl_pdr(), far, dl_far(), qer(), urr(1))
    assert c == 67 and [e.value for e in extra] == [T.FORWARDING_PARAMETERS]  # type: ignore[attr-defined]


def test_restore_brings_sessions_and_allocations_back(h: Harness, datapath: object) -> None:
    resp = h.establish()
    seid = up_seid(resp)
    fteid = created(resp)[1][T.F_TEID]
    assert isinstance(fteid, A.FTEID) and fteid.teid is not None
    h.dp.process_ul(gtpu(ul_packet("10.45.0.1", 100), fteid.teid))
    h.engine.checkpoint(h.now)  # the unreported bytes become the journaled baseline
    h.engine.commit()  # (as the node does before anything leaves)
    with restarted(h, 1) as engine2:
        assert engine2.teids.in_use == 1 and engine2.ue_pools.usage()["internet:10.45.0.0/29"] == 1
        dp2 = engine2.datapath
        assert isinstance(dp2, LocalDatapath)
        assert (
            dp2.process_ul(gtpu(ul_packet("10.45.0.1", 50), fteid.teid)).verdict == Verdict.FORWARD
        )
        final = engine2._remove(engine2.sessions[seid], "cp")
        assert final[1][0].values[1] == 128 + 78  # UL bytes before and after the restart


def test_restore_onto_a_datapath_that_kept_the_counters(h: Harness) -> None:
    """A datapath that held the session while pfcpd was away (VPP) kept counting: the
    restored baseline leaves out what the last checkpoint read from those counters, so the
    final usage counts every byte once."""
    resp = h.establish()
    seid = up_seid(resp)
    fteid = created(resp)[1][T.F_TEID]
    assert isinstance(fteid, A.FTEID) and fteid.teid is not None
    h.dp.process_ul(gtpu(ul_packet("10.45.0.1", 100), fteid.teid))
    h.engine.checkpoint(h.now)
    h.engine.commit()
    h.dp.process_ul(gtpu(ul_packet("10.45.0.1", 50), fteid.teid))  # pfcpd is gone meanwhile
    journal = MemoryJournal()
    journal.records = dict(h.journal.records)
    h.dp.keeps_counts = lambda s: s == seid  # type: ignore[method-assign]
    engine2 = SessionEngine(h.settings, h.dp, journal)  # the same datapath: it kept all
    assert engine2.restore(journal.items(), 0.0) == 1
    final = engine2._remove(engine2.sessions[seid], "cp")
    assert final[1][0].values[1] == 128 + 78  # once each, not the checkpoint's twice


def test_tshark_reads_allocations_and_final_usage(h: Harness) -> None:
    from oracles import tshark_fields

    from pfcpd.pfcp import encode

    resp = h.establish()
    teid = created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    h.dp.process_ul(gtpu(ul_packet("10.45.0.1", 100), teid))
    final = h.delete(up_seid(resp))
    fields = [
        "pfcp.f_teid.teid",
        "pfcp.ue_ip_addr_ipv4",
        "pfcp.volume_measurement.ulvol",
        "pfcp.usage_report_trigger.term",
        "pfcp.cause",
    ]
    est, dele = tshark_fields([encode(resp), encode(final)], fields)
    assert est["pfcp.f_teid.teid"] == [f"0x{teid:08x}"]
    assert est["pfcp.ue_ip_addr_ipv4"] == ["10.45.0.1", "10.45.0.1"]
    assert dele["pfcp.volume_measurement.ulvol"] == ["128"]
    assert dele["pfcp.usage_report_trigger.term"] in (["1"], ["True"])
    assert dele["pfcp.cause"] == ["1"]


def test_restore_refuses_conflicting_records_and_restores_pfds_first(h: Harness) -> None:
    resp = h.establish()
    assert cause(resp) == 1
    (key, record) = next(iter(h.journal.records.items()))
    twin = replaced(h.engine.sessions[1], up_seid=2, cp_seid=7).record()
    assert twin != record
    dp2 = LocalDatapath(expected_sessions=16)
    try:
        engine2 = SessionEngine(h.settings, dp2, MemoryJournal())
        records = [
            (key, record),
            ("s:2", twin),
            ("pfd", b'{"web": ["permit out ip from any to assigned"]}'),
        ]
        assert engine2.restore(records, 0.0) == 1  # the twin claims the same TEID and UE address
        assert engine2.metrics.restore_failures.get() == 1
        assert engine2.pfds.flows("web") == ("permit out ip from any to assigned",)
        assert engine2.teids.in_use == 1 and 2 not in engine2.sessions
    finally:
        dp2.close()


def test_rules_are_kept_compressed_and_version_1_records_restore(h: Harness) -> None:
    """A session keeps its rules deflated against the typical session's encoding (a few
    dozen bytes, not ~300); records of version 1 (rules not compressed) still restore."""
    import base64
    import json

    from pfcpd.session.packing import unpack_rules

    resp = h.establish()
    seid = up_seid(resp)
    session = h.engine.sessions[seid]
    raw = unpack_rules(session.rules_blob)
    assert len(session.rules_blob) < len(raw) // 3
    record = json.loads(session.json_record())
    assert record["v"] == 2 and base64.b64decode(record["rz"]) == session.rules_blob
    del record["rz"]
    record.update(v=1, rules=base64.b64encode(raw).decode())
    h.journal.records[session.key] = json.dumps(record).encode()
    with restarted(h, 1) as engine2:
        again = engine2.sessions[seid]
        assert unpack_rules(again.rules_blob) == raw
        assert sorted(again.rules.pdr) == [1, 2] and again.teids == session.teids
