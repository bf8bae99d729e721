"""TS 29.244 5.5.1: pfcpd advertises FTUP and allocates every F-TEID itself; a request that
gives a PDR an F-TEID the CP allocated (no CH) is refused with cause 71 "Invalid F-TEID
allocation option", the F-TEID as Offending IE: in a Create PDR of an establishment or a
modification, and in an Update PDR. A modification may give a PDR an F-TEID the session
holds (the UP function allocated it), also after a restart. Every message sent is read by
tshark's PFCP dissector (the ``h`` fixture)."""

from __future__ import annotations

from session_harness import (
    N3,
    Harness,
    cause,
    created,
    dl_far,
    dl_pdr,
    establishment,
    g,
    gtpu,
    qer,
    ul_far,
    ul_packet,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.datapath.local.engine import LocalDatapath, Verdict
from pfcpd.pfcp import IEType, Message
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.session import MemoryJournal

T = IEType


def _offending(resp: Message) -> list[int]:
    return [int(ie.value) for ie in resp.get_all(T.OFFENDING_IE)]  # type: ignore[attr-defined]


def _rules(fteid: A.FTEID) -> list[object]:
    return [ul_pdr(fteid=fteid), dl_pdr(), ul_far(), dl_far(), qer(), urr(1)]


def _ul_pdi(fteid: A.FTEID, ue: str = "10.45.0.1") -> object:
    """An uplink PDI with ``fteid``, from the session's UE address ``ue``."""
    return g(
        T.PDI,
        S.SourceInterface(0),
        fteid,
        X.NetworkInstance("internet"),
        A.UEIPAddress(ue, source=True),
    )


def _session(h: Harness, cp_seid: int) -> tuple[int, int, str]:
    """(UP SEID, UL TEID, UE address) of a new session whose F-TEID pfcpd chose (CH)."""
    resp = h.establish(cp_seid=cp_seid)
    assert cause(resp) == 1
    pdr = created(resp)[1]
    fteid, ue = pdr[T.F_TEID], pdr[T.UE_IP_ADDRESS]
    assert isinstance(fteid, A.FTEID) and fteid.teid is not None
    assert isinstance(ue, A.UEIPAddress) and ue.ipv4 is not None
    return up_seid(resp), fteid.teid, ue.ipv4


def test_establishment_with_a_cp_allocated_fteid_is_71(h: Harness) -> None:
    """At our N3 address or another, and again and again (no shape of it is learnt): 71
    with the F-TEID as Offending IE, to the CP's SEID, nothing allocated or stored."""
    given = (A.FTEID(2, str(N3)), A.FTEID(0x77, "203.0.113.7"), A.FTEID(5, None, "2001:db8::5"))
    for fteid in given:
        for _ in range(3):
            resp = h.request(establishment(*_rules(fteid), cp_seid=0xBEEF))  # type: ignore[arg-type]
            assert cause(resp) == 71 and _offending(resp) == [T.F_TEID]
            assert resp.seid == 0xBEEF
            assert h.engine.sessions == {} and h.engine.teids.in_use == 0 and h.records == {}
            assert sum(h.engine.ue_pools.usage().values()) == 0


def test_a_refused_cp_fteid_leaves_the_allocator_to_ch_sessions(h: Harness) -> None:
    """The TEIDs the CP named are not held: the CH sessions after it draw 1 and 2."""
    for teid in (1, 2):
        resp = h.request(establishment(*_rules(A.FTEID(teid, str(N3))), cp_seid=0xB0 + teid))  # type: ignore[arg-type]
        assert cause(resp) == 71
    assert [_session(h, cp_seid=s)[1] for s in (1, 2)] == [1, 2]


def test_modification_create_or_update_pdr_with_a_cp_allocated_fteid_is_71(h: Harness) -> None:
    """The session stays as it was: its F-TEID still forwards, a later change applies."""
    seid, teid, ue = _session(h, cp_seid=0x31)
    foreign = A.FTEID(0x900, "203.0.113.9")
    other = A.FTEID(teid + 1, str(N3))  # (at our address, not the session's TEID)
    new_pdr = g(
        T.CREATE_PDR, S.PDRID(5), S.Precedence(100), _ul_pdi(foreign), S.FARID(1), S.URRID(1)
    )
    for ie in (
        new_pdr,
        g(T.UPDATE_PDR, S.PDRID(1), _ul_pdi(foreign)),
        g(T.UPDATE_PDR, S.PDRID(1), _ul_pdi(other)),
    ):
        resp = h.modify(seid, ie)  # type: ignore[arg-type]
        assert cause(resp) == 71 and _offending(resp) == [T.F_TEID]
        assert resp.seid == 0x31
    assert h.engine.teids.in_use == 1
    assert h.dp.process_ul(gtpu(ul_packet(ue), teid)).verdict == Verdict.FORWARD
    assert cause(h.modify(seid, g(T.UPDATE_PDR, S.PDRID(1), S.Precedence(10)))) == 1


def test_the_session_s_own_fteid_may_be_given_again(h: Harness) -> None:
    """A Create PDR or Update PDR naming the F-TEID pfcpd allocated to the session (at our
    N3 address) is accepted, before and after a restart (the restored session holds it);
    another session's TEID is not this session's."""
    seid, teid, ue = _session(h, cp_seid=0x41)
    _, teid2, _ = _session(h, cp_seid=0x42)
    own = A.FTEID(teid, str(N3))
    again = g(T.CREATE_PDR, S.PDRID(5), S.Precedence(100), _ul_pdi(own, ue), S.FARID(1), S.URRID(1))
    assert cause(h.modify(seid, again)) == 1
    assert cause(h.modify(seid, g(T.UPDATE_PDR, S.PDRID(1), _ul_pdi(own, ue)))) == 1
    resp = h.modify(seid, g(T.UPDATE_PDR, S.PDRID(1), _ul_pdi(A.FTEID(teid2, str(N3)))))
    assert cause(resp) == 71
    assert h.engine.teids.in_use == 2
    h.engine.commit()
    journal = MemoryJournal()
    journal.records = dict(h.journal.records)
    dp = LocalDatapath(expected_sessions=16)
    try:
        again = Harness(dp, journal=journal)
        assert again.engine.restore(journal.items(), again.now) == 2
        assert cause(again.modify(seid, g(T.UPDATE_PDR, S.PDRID(5), _ul_pdi(own, ue)))) == 1
        resp = again.modify(seid, g(T.UPDATE_PDR, S.PDRID(5), _ul_pdi(A.FTEID(0x999, str(N3)))))
        assert cause(resp) == 71 and _offending(resp) == [T.F_TEID]
        assert again.dp.process_ul(gtpu(ul_packet(ue), teid)).verdict == Verdict.FORWARD
        again.check_sent_with_tshark()
    finally:
        dp.close()
