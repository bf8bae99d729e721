"""A session keeps the one item of its TEIDs, UE addresses and FARs' peers alone, not in a
tuple of one, and of its CP's F-SEID the addresses (its SEID is ``cp_seid``): ``teids``,
``ue``, ``peers`` and ``cp_fseid`` give the tuples and the F-SEID back, and what the engine
indexes, journals, restores and frees is the same with 0, 1 or 2 of each."""

from __future__ import annotations

import ipaddress

import pytest
from scapy.layers.inet6 import UDP, IPv6
from scapy.packet import Raw, raw
from session_harness import (
    Harness,
    cause,
    dl_far,
    dl_pdr,
    g,
    qer,
    restarted,
    ul_far,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.datapath.local.engine import LocalDatapath, Verdict
from pfcpd.pfcp import Grouped, IEType
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp.ies_address import FSEID
from pfcpd.session.record import BINARY_RECORD_VERSION, read_record
from pfcpd.session.session import Session, peers_of, teids_of, ue_of
from pfcpd.session.usage import fseid_hex

T = IEType
GNB2 = "192.0.2.10"
UE = "10.45.0.1"  # (the pool's first address)


def _session(**tuples: object) -> Session:
    return Session(1, 7, "smf", FSEID(7, "127.0.0.2"), b"", **tuples)  # type: ignore[arg-type]


@pytest.mark.parametrize("count", [0, 1, 2])
def test_a_tuple_of_one_is_kept_as_its_item(count: int) -> None:
    peer = ipaddress.ip_address("192.0.2.9")
    teids = (9, 10)[:count]
    ue = (("internet", "10.45.0.1/32"), ("internet", "2001:db8:45::/64"))[:count]
    peers = ((peer, 0x100), (peer, 0x200))[:count]
    s = _session(peers=peers, teids=teids, ue=ue)
    assert (s.teids, s.ue, s.peers) == (teids, ue, peers)
    kept = (s.teids_kept, s.ue_kept, s.peers_kept)
    assert kept == ((teids[0], ue[0], peers[0]) if count == 1 else (teids, ue, peers))
    assert (teids_of(s.teids_kept), ue_of(s.ue_kept), peers_of(s.peers_kept)) == (teids, ue, peers)
    # set again through the properties (a modification's allocations, a program's peers)
    s.teids, s.ue, s.peers = teids[:1], ue[:1], peers[:1]
    assert (s.teids, s.ue, s.peers) == (teids[:1], ue[:1], peers[:1])
    s.teids, s.ue, s.peers = teids, ue, peers
    assert (s.teids_kept, s.ue_kept, s.peers_kept) == kept


def test_an_odd_teid_stays_in_its_tuple_and_its_record_is_json() -> None:
    s = _session(peers=(), teids=(True,), ue=(("internet", "10.45.0.1/32"),))
    assert s.teids_kept == (True,) and s.teids == (True,)
    record = s.record()
    assert record.startswith(b"{") and b'"teids":[true]' in record


def test_the_cp_fseid_is_its_seid_and_the_addresses_kept() -> None:
    ue = (("internet", "10.45.0.1/32"),)
    s = Session(1, 7, "smf", FSEID(7, "127.0.0.2", "2001:db8::2"), b"", (), (5,), ue)
    assert s.cp_fseid == FSEID(7, "127.0.0.2", "2001:db8::2")
    assert not hasattr(s, "__dict__") and "cp_fseid" not in Session.__slots__
    s.cp_fseid = FSEID(8, None, "2001:db8::3")  # (a session set modification moves it)
    assert (s.cp_seid, s.cp_ipv4, s.cp_ipv6) == (8, None, "2001:db8::3")
    record = s.record()
    assert record[0] == BINARY_RECORD_VERSION
    assert read_record(record)["cp_fseid"] == FSEID(8, None, "2001:db8::3")
    assert read_record(s.json_record())["cp_fseid"] == fseid_hex(FSEID(8, None, "2001:db8::3"))


def _two_peers() -> list[Grouped]:
    """The usual rules with a second downlink FAR to another gNB (a PDR of its own)."""
    return [
        ul_pdr(),
        dl_pdr(),
        dl_pdr(3, far_id=3),
        ul_far(),
        dl_far(),
        _far(3, 0x200),
        qer(),
        urr(1),
    ]


def _far(far_id: int, teid: int) -> Grouped:
    far = dl_far(far_id, teid=teid)
    params = far.get(T.FORWARDING_PARAMETERS)
    assert isinstance(params, Grouped)
    params.ies = [
        A.OuterHeaderCreation(description=0x0100, teid=teid, ipv4=GNB2)
        if ie.type == T.OUTER_HEADER_CREATION
        else ie
        for ie in params.ies
    ]
    return far


def test_peers_one_and_two_indexed_restored_and_removed(h: Harness) -> None:
    seid = up_seid(h.establish(*_two_peers()))
    s = h.engine.sessions[seid]
    gnb, gnb2 = ipaddress.ip_address("192.0.2.9"), ipaddress.ip_address(GNB2)
    assert s.peers == ((gnb, 0x100), (gnb2, 0x200))
    assert h.engine._by_peer_teid == {0x100: seid, 0x200: seid}
    # the second FAR (and its PDR) removed: one peer, kept alone
    resp = h.modify(seid, g(T.REMOVE_PDR, S.PDRID(3)), g(T.REMOVE_FAR, S.FARID(3)))
    assert cause(resp) == 1
    assert s.peers_kept == (gnb, 0x100) and s.peers == ((gnb, 0x100),)
    assert h.engine._by_peer_teid == {0x100: seid}
    with restarted(h, 1) as engine2:
        assert engine2.sessions[seid].peers_kept == (gnb, 0x100)
        assert engine2._by_peer_teid == {0x100: seid}
    # added again: two
    assert cause(h.modify(seid, dl_pdr(3, far_id=3), _far(3, 0x200))) == 1
    assert s.peers == ((gnb, 0x100), (gnb2, 0x200))
    assert h.engine._by_peer_teid == {0x100: seid, 0x200: seid}
    with restarted(h, 1) as engine2:
        assert engine2.sessions[seid].peers == s.peers
        assert engine2._by_peer_teid == {0x100: seid, 0x200: seid}
    assert cause(h.delete(seid)) == 1
    assert h.engine._by_peer_teid == {}
    h.check_sent_with_tshark()


def test_a_dual_stack_ue_is_kept_journaled_restored_and_freed(datapath: LocalDatapath) -> None:
    pools = {
        "internet": (ipaddress.ip_network("10.45.0.0/29"), ipaddress.ip_network("2001:db8:45::/48"))
    }
    h = Harness(datapath, pools=pools)
    both = A.UEIPAddress(source=True, choose_v4=True, choose_v6=True)
    dl = dl_pdr()
    pdi = dl.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies = [ie for ie in pdi.ies if ie.type != T.UE_IP_ADDRESS]
    pdi.ies.append(A.UEIPAddress(choose_v4=True, choose_v6=True))
    seid = up_seid(h.establish(ul_pdr(ue=both), dl, ul_far(), dl_far(), qer(), urr(1)))
    s = h.engine.sessions[seid]
    ue = (("internet", f"{UE}/32"), ("internet", "2001:db8:45::/64"))
    assert s.ue == ue and s.ue_kept == ue and len(s.teids) == 1
    (record,) = h.journal.records.values()
    assert record.startswith(b"{")  # (two UE addresses: the JSON record)
    assert h.engine.ue_pools.usage() == {"internet:10.45.0.0/29": 1, "internet:2001:db8:45::/48": 1}
    with restarted(h, 1) as engine2:
        again = engine2.sessions[seid]
        assert (again.ue_kept, again.teids_kept) == (s.ue_kept, s.teids_kept)
        v6 = raw(IPv6(src="2001:db8::1", dst="2001:db8:45::5") / UDP() / Raw(b"x"))
        res = engine2.datapath.process_dl(v6)  # type: ignore[attr-defined]
        assert res.verdict == Verdict.FORWARD
    assert cause(h.delete(seid)) == 1
    h.engine.commit()
    assert set(h.engine.ue_pools.usage().values()) == {0}
    assert h.engine.teids.in_use == 0
    h.check_sent_with_tshark()


def test_the_usual_session_keeps_one_of_each_and_restores_it(h: Harness) -> None:
    seid = up_seid(h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1)))
    s = h.engine.sessions[seid]
    assert type(s.teids_kept) is int and s.ue_kept == ("internet", f"{UE}/32")
    assert s.cp_fseid == FSEID(0xC0FFEE, "127.0.0.2")
    (record,) = h.journal.records.values()
    assert record[0] == BINARY_RECORD_VERSION
    with restarted(h, 1) as engine2:
        again = engine2.sessions[seid]
        assert (again.teids_kept, again.ue_kept, again.peers_kept) == (
            s.teids_kept,
            s.ue_kept,
            s.peers_kept,
        )
        assert (again.cp_seid, again.cp_ipv4, again.cp_ipv6) == (0xC0FFEE, "127.0.0.2", None)
        assert again.record() == record
