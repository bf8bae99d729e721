"""TS 29.244 5.5.1's exception to FTUP: a Session Establishment Request with PFCPSEReq-Flags
RESTI restores a session the UP function lost (TS 23.527 4.3.2), with the F-TEIDs the UP
function allocated before (no CH) and, for a UE address from our pools, that address: pfcpd
takes them again, so no later session gets them, and gives them back when the session
goes. An F-TEID off our N3 address or another session's is refused with 71 (Offending IE
F-TEID), a UE address another session holds with 64; nothing is taken then. Without RESTI
the same request is refused with 71 (`test_fteid_allocation_option.py`). Every message sent
is read by tshark's PFCP dissector (the ``h`` fixture)."""

from __future__ import annotations

import ipaddress

from session_harness import (
    N3,
    Harness,
    cause,
    created,
    dl_far,
    dl_pdr,
    establishment,
    gtpu,
    qer,
    ul_far,
    ul_packet,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.datapath.local.engine import LocalDatapath, Verdict
from pfcpd.pfcp import IE, Grouped, IEType, Message
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.session import MemoryJournal

T = IEType


def _restoration(teid: int, ue: str, cp_seid: int, address: str = str(N3)) -> Message:
    """An establishment restoring a session: its UL PDR's F-TEID ``teid`` at ``address``
    (no CH), the UE address ``ue`` on both PDRs, RESTI set."""
    down = dl_pdr()
    pdi = down.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies = [A.UEIPAddress(ue) if c.type == T.UE_IP_ADDRESS else c for c in pdi.ies]
    rules = [
        ul_pdr(fteid=A.FTEID(teid, address), ue=A.UEIPAddress(ue, source=True)),
        down,
        ul_far(),
        dl_far(),
        qer(),
        urr(1),
    ]
    req = establishment(*rules, cp_seid=cp_seid)
    req.ies.append(F.PFCPSEReqFlags.of("RESTI"))
    return req


def _in_use(h: Harness) -> tuple[int, int]:
    """(TEIDs, UE addresses) the engine holds."""
    return h.engine.teids.in_use, sum(h.engine.ue_pools.usage().values())


def _offending(resp: Message) -> list[int]:
    return [int(ie.value) for ie in resp.get_all(T.OFFENDING_IE)]  # type: ignore[attr-defined]


def test_a_restored_session_takes_its_fteid_and_ue_address_again(h: Harness) -> None:
    """Accepted; the F-TEID forwards; a CH session after it gets neither the TEID nor the
    address; deleting the restored session gives both back."""
    resp = h.request(_restoration(7, "10.45.0.1", cp_seid=0x51))
    assert cause(resp) == 1
    assert T.F_TEID not in created(resp).get(1, {})  # (the CP's: not in a Created PDR)
    seid = up_seid(resp)
    assert _in_use(h) == (1, 1)
    assert h.dp.process_ul(gtpu(ul_packet("10.45.0.1"), 7)).verdict == Verdict.FORWARD
    other = h.establish(cp_seid=0x52)
    pdr = created(other)[1]
    assert pdr[T.F_TEID].teid != 7  # type: ignore[attr-defined]
    assert pdr[T.UE_IP_ADDRESS].ipv4 != "10.45.0.1"  # type: ignore[attr-defined]
    assert cause(h.delete(seid)) == 1
    assert _in_use(h) == (1, 1)  # (the CH session's)
    h.check_sent_with_tshark()


def test_the_restored_session_keeps_them_across_a_restart(h: Harness) -> None:
    resp = h.request(_restoration(9, "10.45.0.2", cp_seid=0x61))
    assert cause(resp) == 1
    h.engine.commit()
    journal = MemoryJournal()
    journal.records = dict(h.journal.records)
    dp = LocalDatapath(expected_sessions=16)
    try:
        again = Harness(dp, journal=journal)
        assert again.engine.restore(journal.items(), again.now) == 1
        assert _in_use(again) == (1, 1)
        assert again.dp.process_ul(gtpu(ul_packet("10.45.0.2"), 9)).verdict == Verdict.FORWARD
        refused = again.request(_restoration(9, "10.45.0.3", cp_seid=0x62))
        assert cause(refused) == 71 and _offending(refused) == [T.F_TEID]
    finally:
        dp.close()


def test_an_fteid_another_session_holds_is_71(h: Harness) -> None:
    held = created(h.establish(cp_seid=0x71))[1][T.F_TEID].teid  # type: ignore[attr-defined]
    before = _in_use(h)
    for _ in range(2):
        resp = h.request(_restoration(held, "10.45.0.5", cp_seid=0x72))
        assert cause(resp) == 71 and _offending(resp) == [T.F_TEID]
        assert resp.seid == 0x72
        assert _in_use(h) == before and len(h.engine.sessions) == 1


def test_an_fteid_off_our_n3_address_is_71(h: Harness) -> None:
    resp = h.request(_restoration(7, "10.45.0.1", cp_seid=0x81, address="203.0.113.7"))
    assert cause(resp) == 71 and _offending(resp) == [T.F_TEID]
    assert _in_use(h) == (0, 0) and h.engine.sessions == {}


def test_a_ue_address_another_session_holds_is_64_and_frees_the_teid(h: Harness) -> None:
    ue = created(h.establish(cp_seid=0x91))[1][T.UE_IP_ADDRESS].ipv4  # type: ignore[attr-defined]
    resp = h.request(_restoration(0x4000, ue, cp_seid=0x92))
    assert cause(resp) == 64
    assert _in_use(h) == (1, 1) and len(h.engine.sessions) == 1
    # (the TEID it named was given back: a restoration may take it now)
    assert cause(h.request(_restoration(0x4000, "10.45.0.4", cp_seid=0x93))) == 1


def test_a_ue_address_outside_the_pools_is_the_cps(h: Harness) -> None:
    """Not taken from any pool (the CP allocated it); the session is restored."""
    resp = h.request(_restoration(0x11, "192.0.2.10", cp_seid=0xA1))
    assert cause(resp) == 1
    assert _in_use(h) == (1, 0)
    assert h.dp.process_ul(gtpu(ul_packet("192.0.2.10"), 0x11)).verdict == Verdict.FORWARD


def _v6_rules(up: A.UEIPAddress, down: A.UEIPAddress, fteid: A.FTEID | None = None) -> list[IE]:
    dl = dl_pdr()
    pdi = dl.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies = [down if c.type == T.UE_IP_ADDRESS else c for c in pdi.ies]
    return [ul_pdr(ue=up, fteid=fteid), dl, ul_far(), dl_far(), qer(), urr(1)]


def test_a_ue_address_overlapping_a_pool_holds_its_values() -> None:
    """An IPv6 address given without its prefix length is a /64 (8.2.62): in a pool of
    single addresses (/128 values of a /120) it is none of the pool's values but covers
    them all: they are held while the restored session has it (as a restart holds them),
    so no CHV6 session gets one of them (79), and they are free again once it goes."""
    dp = LocalDatapath(expected_sessions=16)
    try:
        pools = {
            "internet": (
                ipaddress.ip_network("10.45.0.0/29"),
                ipaddress.ip_network("2001:db8:45::/120"),
            )
        }
        h = Harness(dp, pools=pools)
        chv6 = (A.UEIPAddress(source=True, choose_v6=True), A.UEIPAddress(choose_v6=True))
        given = (
            A.UEIPAddress(ipv6="2001:db8:45::7", source=True),
            A.UEIPAddress(ipv6="2001:db8:45::7"),
        )
        req = establishment(*_v6_rules(*given, fteid=A.FTEID(0x99, str(N3))), cp_seid=2)
        req.ies.append(F.PFCPSEReqFlags.of("RESTI"))
        restored = h.request(req)
        assert cause(restored) == 1
        assert cause(h.establish(*_v6_rules(*chv6), cp_seid=3)) == 79
        assert cause(h.delete(up_seid(restored))) == 1
        assert cause(h.establish(*_v6_rules(*chv6), cp_seid=4)) == 1
        h.check_sent_with_tshark()
    finally:
        dp.close()
