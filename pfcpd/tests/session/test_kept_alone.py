"""A session keeps the one item of its TEIDs, UE addresses and FARs' peers alone, not in a
tuple of one, the one book of its URRs as a `OneBook`, not a dict of one, and of its CP's
F-SEID the addresses (its SEID is ``cp_seid``): ``teids``, ``ue``, ``peers`` and
``cp_fseid`` give the tuples and the F-SEID back, ``urrs`` reads as the dict did, and what
the engine indexes, answers, journals, restores, reports and frees is the same with 0, 1 or
2 of each (a second URR or peer added and removed again, a change undone)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from scapy.layers.inet6 import UDP, IPv6
from scapy.packet import Raw, raw
from session_harness import (
    Harness,
    cause,
    dl_far,
    dl_pdr,
    dual_stack,
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
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.pfcp.ies_address import FSEID
from pfcpd.session.record import BINARY_RECORD_VERSION, read_record
from pfcpd.session.session import Session, peers_of, teids_of, ue_of
from pfcpd.session.usage import OneBook, UrrBook, fseid_hex, kept_books
from pfcpd.smfsim import rules as R

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
    h, rules = dual_stack(datapath)
    seid = up_seid(h.establish(*rules))
    s = h.engine.sessions[seid]
    ue = (("internet", f"{UE}/32"), ("internet", "2001:db8:45::/64"))
    assert s.ue == ue and s.ue_kept == ue and len(s.teids) == 1
    (record,) = h.records.values()
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
    (record,) = h.records.values()
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


def test_one_book_reads_as_a_dict_of_one() -> None:
    start = 3_950_000_000.5
    book, other = UrrBook(period_start_ntp=start, seqn=3), UrrBook()
    one, as_dict = OneBook(7, book), {7: book}
    assert (len(one), list(one), 7 in one, 8 in one) == (1, [7], True, False)
    assert one[7] is book and one.get(7) is book and one.get(8) is None and one.get(8, 0) == 0
    with pytest.raises(KeyError):
        one[8]
    assert list(one.keys()) == list(as_dict.keys()) and list(one.values()) == [book]
    assert list(one.items()) == list(as_dict.items()) and dict(one) == as_dict
    assert (
        one == as_dict
        and as_dict == one
        and one == OneBook(7, UrrBook(period_start_ntp=start, seqn=3))
    )
    assert one != {7: other} and one != OneBook(8, book) and one != {7: book, 8: other}
    assert kept_books(as_dict) == one and type(kept_books(as_dict)) is OneBook
    assert type(kept_books({})) is dict and type(kept_books({7: book, 8: other})) is dict
    # given a dict of one, the session keeps a OneBook; its records are a dict's
    ue = (("internet", "10.45.0.1/32"),)
    s = _session(peers=(), teids=(5,), ue=ue, urrs=as_dict, established_ntp=start)
    assert type(s.urrs) is OneBook
    as_one = s.record(), s.json_record()
    assert as_one[0][0] == BINARY_RECORD_VERSION
    s.urrs = as_dict  # (a dict of one: the same records)
    assert (s.record(), s.json_record()) == as_one


def _urrs(h: Harness, count: int) -> int:
    """A session with ``count`` URRs (both PDRs name each)."""
    ids = list(range(1, count + 1))
    pdrs = [ul_pdr(urr=None), dl_pdr(urr=None)]
    for pdr in pdrs:
        pdr.ies += [S.URRID(u) for u in ids]
    books = [urr(u, "VOLTH", vt=TR.VolumeThreshold(total=10**6 * u)) for u in ids]
    return up_seid(h.establish(*pdrs, ul_far(), dl_far(), qer(), *books))


@pytest.mark.parametrize("count", [0, 1, 2])
def test_sessions_of_0_1_2_urrs_journal_and_restore_alike(h: Harness, count: int) -> None:
    seid = _urrs(h, count)
    s = h.engine.sessions[seid]
    assert type(s.urrs) is (OneBook if count == 1 else dict) and len(s.urrs) == count
    (record,) = h.records.values()
    assert record[0] == BINARY_RECORD_VERSION
    with restarted(h, 1) as engine2:
        again = engine2.sessions[seid]
        assert type(again.urrs) is type(s.urrs) and again.urrs == s.urrs
        assert again.record() == record
    resp = h.delete(seid)
    assert len(resp.get_all(T.USAGE_REPORT_DELETION_RESPONSE)) == count
    h.check_sent_with_tshark()


def test_a_second_urr_added_queried_and_removed(h: Harness) -> None:
    seid = _urrs(h, 1)
    s = h.engine.sessions[seid]
    one = s.urrs
    assert type(one) is OneBook
    second = urr(2, "VOLTH", vt=TR.VolumeThreshold(total=5000))
    link = g(T.UPDATE_PDR, S.PDRID(1), S.URRID(1), S.URRID(2))
    # refused at the commit: the OneBook back as it was
    h.journal.fail_next = 1
    assert cause(h.modify(seid, second, link)) == 77
    assert s.urrs is one
    assert cause(h.modify(seid, second, link)) == 1
    assert type(s.urrs) is dict and list(s.urrs) == [1, 2] and s.urrs[1] is one.book
    with restarted(h, 1) as engine2:
        assert list(engine2.sessions[seid].urrs) == [1, 2]
    resp = h.modify(seid, g(T.QUERY_URR, S.URRID(1)), g(T.QUERY_URR, S.URRID(2)))
    assert len(resp.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)) == 2
    # removed: reported (TERMR), one book left, kept as a OneBook
    unlink = g(T.UPDATE_PDR, S.PDRID(1), S.URRID(1))
    resp = h.modify(seid, unlink, g(T.REMOVE_URR, S.URRID(2)))
    (rep,) = resp.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    assert rep.get(T.URR_ID).value == 2  # type: ignore[union-attr]
    assert type(s.urrs) is OneBook and s.urrs.urr_id == 1
    (record,) = h.records.values()
    with restarted(h, 1) as engine2:
        again = engine2.sessions[seid]
        assert type(again.urrs) is OneBook and again.record() == record
    h.check_sent_with_tshark()


def test_an_update_far_of_a_session_of_one_urr_takes_the_stored_layout(h: Harness) -> None:
    seid = _urrs(h, 1)
    fars = h.engine._modify_fars
    answered: list[object] = []

    def spied(*args: Any) -> Any:
        answered.append(fars(*args))
        return answered[-1]

    h.engine._modify_fars = spied  # type: ignore[method-assign]
    books = h.engine.sessions[seid].urrs
    for teid in (0x500, 0x501):  # (the first compiles what the second finds)
        assert cause(h.modify(seid, R.update_dl_far(2, teid, "192.0.2.10"))) == 1
    assert len(answered) == 2 and answered[1] is not None  # (not the long way)
    assert h.engine.sessions[seid].urrs is books
