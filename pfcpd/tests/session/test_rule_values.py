"""What a rule's values must be (TS 29.244), refused with the spec's cause when they are not,
and the values the datapath could only have ignored refused rather than accepted:

- Apply Action (8.2.26): one and only one of DROP, FORW, BUFF, IPMA and IPMD, NOCP and BDPN
  only with BUFF: else 69 with the Apply Action as Offending IE; a flag the datapath does
  not implement (IPMA, IPMD, DFRT, EDRT, BDPN, DDPN): 73 naming the FAR.
- A reporting trigger whose report needs a value (Table 7.5.2.4-1: PERIO its Measurement
  Period, VOLTH its Volume Threshold, ...) without it: 67 with that IE as Offending IE, in
  a Create URR and in an Update URR (the session stays as it was).
- An SDF Filter with only an SDF Filter ID (it would match every packet), a Redirect
  Information of a URL or SIP URI (no proxy to redirect through), an Outer Header Removal
  other than GTP-U/UDP/IP: 73 naming the rule.
- IPv6 Prefix Delegation Bits (8.2.62) widen a UE's IPv6 prefix: /64 less the bits.

Every message sent is read by tshark's PFCP dissector (the ``h`` fixture)."""

from __future__ import annotations

import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw, raw
from session_harness import (
    GNB,
    Harness,
    cause,
    dl_far,
    dl_pdr,
    g,
    qer,
    ul_far,
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
from pfcpd.session import MemoryJournal

T = IEType


def _offending(resp: Message) -> list[int]:
    return [int(ie.value) for ie in resp.get_all(T.OFFENDING_IE)]  # type: ignore[attr-defined]


def _far(flags: tuple[str, ...]) -> Grouped:
    return g(
        T.CREATE_FAR,
        S.FARID(2),
        F.ApplyAction.of(*flags),
        g(
            T.FORWARDING_PARAMETERS,
            S.DestinationInterface(0),
            A.OuterHeaderCreation(A.OHC_GTPU_UDP_IPV4, teid=0x100, ipv4=GNB),
        ),
    )


def _nothing_kept(h: Harness) -> bool:
    return h.engine.sessions == {} and h.engine.teids.in_use == 0


@pytest.mark.parametrize(
    "flags",
    [("DROP", "FORW"), ("FORW", "BUFF"), (), ("NOCP",), ("FORW", "NOCP"), ("DROP", "BDPN")],
)
def test_apply_action_not_one_of_its_kind_is_69(h: Harness, flags: tuple[str, ...]) -> None:
    resp = h.establish(ul_pdr(), dl_pdr(), ul_far(), _far(flags), qer(), urr(1))
    assert cause(resp) == 69 and _offending(resp) == [T.APPLY_ACTION]
    assert _nothing_kept(h)


@pytest.mark.parametrize(
    "flags",
    [("IPMA",), ("IPMD",), ("FORW", "DFRT"), ("FORW", "EDRT"), ("BUFF", "BDPN"), ("DROP", "DDPN")],
)
def test_apply_action_the_datapath_lacks_is_73(h: Harness, flags: tuple[str, ...]) -> None:
    resp = h.establish(ul_pdr(), dl_pdr(), ul_far(), _far(flags), qer(), urr(1))
    assert cause(resp) == 73 and resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(1, 2)
    assert _nothing_kept(h)


@pytest.mark.parametrize("flags", [("FORW",), ("DROP",), ("BUFF",), ("BUFF", "NOCP")])
def test_apply_actions_of_one_kind_are_accepted(h: Harness, flags: tuple[str, ...]) -> None:
    assert cause(h.establish(ul_pdr(), dl_pdr(), ul_far(), _far(flags), qer(), urr(1))) == 1


_VALUES = {
    "PERIO": (T.MEASUREMENT_PERIOD, S.MeasurementPeriod(60)),
    "VOLTH": (T.VOLUME_THRESHOLD, TR.VolumeThreshold(total=10**6)),
    "TIMTH": (T.TIME_THRESHOLD, S.TimeThreshold(60)),
    "QUHTI": (T.QUOTA_HOLDING_TIME, S.QuotaHoldingTime(30)),
    "DROTH": (T.DROPPED_DL_TRAFFIC_THRESHOLD, TR.DroppedDLTrafficThreshold(packets=10)),
    "VOLQU": (T.VOLUME_QUOTA, TR.VolumeQuota(total=10**6)),
    "TIMQU": (T.TIME_QUOTA, S.TimeQuota(600)),
}


@pytest.mark.parametrize("trigger", sorted(_VALUES))
def test_a_trigger_without_its_value_is_67(h: Harness, trigger: str) -> None:
    ie_type, value = _VALUES[trigger]
    resp = h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1, trigger))
    assert cause(resp) == 67 and _offending(resp) == [ie_type]
    assert _nothing_kept(h)
    assert (
        cause(h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1, trigger, v=value)))
        == 1
    )


@pytest.mark.parametrize(
    ("method", "trigger", "needed"),
    [
        ("VOLUM", "LIUSA", T.LINKED_URR_ID),
        ("EVENT", "EVETH", T.EVENT_THRESHOLD),
        ("EVENT", "EVEQU", T.EVENT_QUOTA),
    ],
)
def test_linked_and_event_triggers_without_their_ie_are_67(
    h: Harness, method: str, trigger: str, needed: int
) -> None:
    """TS 29.244 Table 7.5.2.4-1: Linked URR ID is present if linked usage reporting is
    required (LIUSA), Event Threshold / Event Quota if event-based reporting asks for them
    (EVETH / EVEQU): without it the trigger could never fire, 67 naming it."""
    u = g(T.CREATE_URR, S.URRID(1), F.MeasurementMethod.of(method), F.ReportingTriggers.of(trigger))
    resp = h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), u)
    assert cause(resp) == 67 and _offending(resp) == [needed]
    assert _nothing_kept(h)


def test_an_update_urr_adding_a_trigger_without_its_value_is_67(h: Harness) -> None:
    seid = up_seid(h.establish())
    kept = h.engine.sessions[seid].rules_blob
    resp = h.modify(seid, g(T.UPDATE_URR, S.URRID(1), F.ReportingTriggers.of("VOLTH", "PERIO")))
    assert cause(resp) == 67 and _offending(resp) == [T.MEASUREMENT_PERIOD]
    assert h.engine.sessions[seid].rules_blob == kept
    update = g(
        T.UPDATE_URR, S.URRID(1), F.ReportingTriggers.of("VOLTH", "PERIO"), S.MeasurementPeriod(60)
    )
    assert cause(h.modify(seid, update)) == 1  # (its Volume Threshold is the URR's)


def test_an_sdf_filter_with_only_an_id_is_73(h: Harness) -> None:
    """Refused, not compiled to a filter matching every packet."""
    pdr = ul_pdr(pdr_id=3, far_id=1)
    pdi = pdr.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies.append(TR.SDFFilter(filter_id=5))
    resp = h.establish(ul_pdr(), pdr, dl_pdr(), ul_far(), dl_far(), qer(), urr(1))
    assert cause(resp) == 73 and resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(0, 3)
    assert _nothing_kept(h)


@pytest.mark.parametrize("kind,server", [(2, "http://portal.example/"), (3, "sip:portal@example")])
def test_a_url_or_sip_redirect_is_73(h: Harness, kind: int, server: str) -> None:
    far = g(
        T.CREATE_FAR,
        S.FARID(1),
        F.ApplyAction.of("FORW"),
        g(
            T.FORWARDING_PARAMETERS,
            S.DestinationInterface(1),
            X.NetworkInstance("internet"),
            TR.RedirectInformation(kind, server),
        ),
    )
    resp = h.establish(ul_pdr(), dl_pdr(), far, dl_far(), qer(), urr(1))
    assert cause(resp) == 73 and resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(1, 1)
    assert _nothing_kept(h)


@pytest.mark.parametrize("ohr", [2, 3, 4, 5, 7])
def test_an_outer_header_removal_other_than_gtpu_is_73(h: Harness, ohr: int) -> None:
    pdr = ul_pdr()
    pdr.ies = [ie for ie in pdr.ies if ie.type != T.OUTER_HEADER_REMOVAL]
    pdr.ies.append(TR.OuterHeaderRemoval(ohr))
    resp = h.establish(pdr, dl_pdr(), ul_far(), dl_far(), qer(), urr(1))
    assert cause(resp) == 73 and resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(0, 1)
    assert _nothing_kept(h)


@pytest.mark.parametrize("ohr", [0, 6])
def test_gtpu_outer_header_removals_are_accepted(h: Harness, ohr: int) -> None:
    pdr = ul_pdr()
    pdr.ies = [ie for ie in pdr.ies if ie.type != T.OUTER_HEADER_REMOVAL]
    pdr.ies.append(TR.OuterHeaderRemoval(ohr))
    assert cause(h.establish(pdr, dl_pdr(), ul_far(), dl_far(), qer(), urr(1))) == 1


@pytest.mark.parametrize(
    "bits,inside,outside",
    [
        (8, "2001:db8:77:1ff::1", "2001:db8:77:200::1"),
        (0, "2001:db8:77:100::1", "2001:db8:77:101::1"),
    ],
)
def test_ipv6_prefix_delegation_bits_widen_the_prefix(
    h: Harness, bits: int, inside: str, outside: str
) -> None:
    """A delegated /56 (8 bits) takes downlink to all of it, and no more; without the bits
    (IPv6D clear) the prefix is the /64."""
    dl = dl_pdr()
    pdi = dl.get(T.PDI)
    assert isinstance(pdi, Grouped)
    ue = A.UEIPAddress(ipv6="2001:db8:77:100::", ipv6_prefix_delegation_bits=bits or None)
    pdi.ies = [ue if ie.type == T.UE_IP_ADDRESS else ie for ie in pdi.ies]
    assert cause(h.establish(ul_pdr(), dl, ul_far(), dl_far(), qer(), urr(1))) == 1

    def dl_to(dst: str) -> Verdict:
        packet = IPv6(src="2001:db8::1", dst=dst) / UDP(sport=1, dport=2) / Raw(b"d" * 20)
        return h.dp.process_dl(raw(packet)).verdict

    assert dl_to("2001:db8:77:100::1") == Verdict.FORWARD
    assert dl_to(inside) == Verdict.FORWARD
    assert dl_to(outside) != Verdict.FORWARD


def _as_an_earlier_release_kept_it(h: Harness, seid: int) -> None:
    """The session's FAR 2 as an earlier pfcpd accepted and journaled it: Apply Action
    FORW+NOCP (compiled as FORW then: NOCP without BUFF is nothing to do), an SDF filter
    with only an ID, a URL redirect."""
    s = h.engine.sessions[seid]
    rules = s.rules
    far = rules.far[2]
    far.ies = [
        F.ApplyAction.of("FORW", "NOCP") if ie.type == T.APPLY_ACTION else ie for ie in far.ies
    ]
    far.raw = None
    fp = far.get(T.FORWARDING_PARAMETERS)
    assert isinstance(fp, Grouped)
    fp.ies.append(TR.RedirectInformation(2, "http://portal.example/"))
    pdi = rules.pdr[1].get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies.append(TR.SDFFilter(filter_id=5))
    rules.pdr[1].raw = None
    s.set_rules(rules)
    h.engine._write(s)
    h.engine.commit()


def test_a_rule_an_earlier_release_kept_is_restored_and_modified(h: Harness) -> None:
    """The checks are the requests': a session journaled with such values before is
    restored as it was, and a modification that leaves those rules alone is accepted
    (with the datapath that kept the session, e.g. VPP, as after a restart)."""
    seid = up_seid(h.establish())
    _as_an_earlier_release_kept_it(h, seid)
    assert cause(h.modify(seid, g(T.UPDATE_QER, S.QERID(1), TR.MBR(2000, 2000)))) == 1
    journal = MemoryJournal()
    journal.records = dict(h.journal.records)
    dp = LocalDatapath(expected_sessions=16)
    try:
        again = Harness(dp, journal=journal)
        assert again.engine.restore(journal.items(), again.now) == 1
        assert cause(again.modify(seid, g(T.UPDATE_QER, S.QERID(1), TR.MBR(3000, 3000)))) == 1
        # (an Update FAR giving an Apply Action is checked)
        update = g(T.UPDATE_FAR, S.FARID(2), F.ApplyAction.of("DROP", "FORW"))
        resp = again.modify(seid, update)
        assert cause(resp) == 69 and _offending(resp) == [T.APPLY_ACTION]
    finally:
        dp.close()


@pytest.mark.parametrize(
    "update",
    [
        g(T.UPDATE_FAR, S.FARID(2), F.ApplyAction.of("FORW", "NOCP")),
        g(
            T.UPDATE_FAR,
            S.FARID(1),
            g(T.UPDATE_FORWARDING_PARAMETERS, TR.RedirectInformation(3, "sip:portal@example")),
        ),
        g(T.UPDATE_PDR, S.PDRID(1), TR.OuterHeaderRemoval(4)),
    ],
    ids=["apply-action", "redirect", "ohr"],
)
def test_an_update_giving_such_a_value_is_refused(h: Harness, update: Grouped) -> None:
    seid = up_seid(h.establish())
    kept = h.engine.sessions[seid].rules_blob
    assert cause(h.modify(seid, update)) in (69, 73)
    assert h.engine.sessions[seid].rules_blob == kept
