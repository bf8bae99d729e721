"""A restored session whose UE address or prefix no pool has as its own any more (the
configuration changed) keeps it, and what the pools configured since would hand out inside
it is held in use while the session has it: no new session gets an address inside a
restored /64 prefix, nor the /64 prefix around a restored single address. Each held value
counts once in its pool's use and comes back once, when the last session holding it goes."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from session_harness import Harness, cause, created, up_seid

from pfcpd.datapath.interface import IPNetwork
from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.pfcp import Cause, IEType, Message
from pfcpd.session import MemoryJournal
from pfcpd.session.allocation import HELD_MAX, Exhausted, UeAddressPools
from pfcpd.smfsim import rules as R

T = IEType
V6_PREFIXES = ipaddress.ip_network("2001:db8:45::/48")  # (/64 prefixes)
V6_SINGLE = ipaddress.ip_network("2001:db8:45::/120")  # (single addresses, 255)
POOL29 = ipaddress.ip_network("10.45.0.0/29")  # (6 host addresses)


def _net(text: str) -> IPNetwork:
    return ipaddress.ip_network(text)


def _taken(pools: UeAddressPools, version: int = 6) -> str:
    got = pools.take_text("internet", version)
    assert got is not None
    return got[2]


def _ue(resp: Message) -> str:
    """The UE address an establishment's answer gives (IPv6: the prefix's first)."""
    assert cause(resp) == 1, resp
    ue = created(resp)[1][T.UE_IP_ADDRESS]
    return str(ue.ipv6 or ue.ipv4)  # type: ignore[attr-defined]


@contextmanager
def reconfigured(h: Harness, sessions: int, *pools: IPNetwork) -> Iterator[Harness]:
    """pfcpd restarted with ``pools`` configured instead: a new engine and datapath, ``h``'s
    journal restored (``sessions`` sessions come back)."""
    dp = LocalDatapath(expected_sessions=16)
    try:
        journal = MemoryJournal()
        journal.records = dict(h.journal.records)
        again = Harness(dp, journal, pools={"internet": pools})
        assert again.engine.restore(journal.items(), 0.0) == sessions
        yield again
    finally:
        dp.close()


# -- the pools alone ------------------------------------------------------------------------


def test_a_prefix_over_a_whole_pool_holds_every_value_until_freed() -> None:
    pools = UeAddressPools({"internet": (V6_SINGLE,)})
    (pool,) = pools.pools[("internet", 6)]
    assert pools.hold("internet", _net("2001:db8:45::/64")) == [pool]
    with pytest.raises(Exhausted):
        pools.take_text("internet", 6)
    assert pools.usage() == {"internet:2001:db8:45::/120": 255}
    pools.free("internet", _net("2001:db8:45::/64"))
    assert pools.usage() == {"internet:2001:db8:45::/120": 0}
    assert _taken(pools) == "2001:db8:45::1/128"
    pools.free("internet", _net("2001:db8:45::/64"))  # (freed once: no effect again)
    assert pools.usage() == {"internet:2001:db8:45::/120": 1}
    assert _taken(pools) == "2001:db8:45::2/128"


def test_a_prefix_beside_a_pool_holds_nothing() -> None:
    pools = UeAddressPools({"internet": (V6_SINGLE,), "other": (_net("2001:db8:45:1::/120"),)})
    assert pools.hold("internet", _net("2001:db8:45:1::/64")) == []  # (another instance's)
    assert pools.hold("internet", _net("10.45.0.0/32")) == []
    assert _taken(pools) == "2001:db8:45::1/128"
    assert pools.usage()["internet:2001:db8:45::/120"] == 1


def test_a_pool_of_over_held_max_values_inside_a_prefix_is_held_whole() -> None:
    """A /65 has 2^63 - 1 single addresses: held as one, every one counted in use."""
    pools = UeAddressPools({"internet": (_net("2001:db8:45::/65"),)})
    pools.hold("internet", _net("2001:db8:45::/64"))
    assert pools.usage() == {"internet:2001:db8:45::/65": (1 << 63) - 1}
    with pytest.raises(Exhausted):
        pools.take_text("internet", 6)
    pools.free("internet", _net("2001:db8:45::/64"))
    assert _taken(pools) == "2001:db8:45::1/128"


def test_a_partial_overlap_of_more_than_held_max_values_holds_the_pool_whole() -> None:
    pools = UeAddressPools({"internet": (_net("2001:db8:45::/96"),)})
    pools.hold("internet", _net("2001:db8:45::/108"))  # (2^20 values of the /96's 2^32)
    assert pools.usage() == {"internet:2001:db8:45::/96": (1 << 32) - 1}
    assert HELD_MAX < 1 << 20
    pools.free("internet", _net("2001:db8:45::/108"))
    assert pools.usage() == {"internet:2001:db8:45::/96": 0}


def test_a_partial_overlap_holds_the_values_inside_it() -> None:
    pools = UeAddressPools({"internet": (_net("2001:db8:45::/120"),)})
    pools.hold("internet", _net("2001:db8:45::/126"))  # (::1 .. ::3: ::0 is not handed out)
    assert pools.usage() == {"internet:2001:db8:45::/120": 3}
    assert _taken(pools) == "2001:db8:45::4/128"
    pools.free("internet", _net("2001:db8:45::/126"))
    assert pools.usage() == {"internet:2001:db8:45::/120": 1}


def test_single_addresses_inside_a_prefix_hold_it_once_until_the_last_goes() -> None:
    """Two restored single addresses in one /64 of a pool of /64 prefixes: held once (one in
    use), back when the second goes, after the never-used prefixes (a freed value)."""
    pools = UeAddressPools({"internet": (_net("2001:db8:45::/63"),)})  # (2 prefixes)
    (pool,) = pools.pools[("internet", 6)]
    one, two = _net("2001:db8:45::1/128"), _net("2001:db8:45::2/128")
    assert pools.hold("internet", one) == [pool]
    assert pools.hold("internet", two) == [pool]
    assert pool.in_use == 1
    assert _taken(pools) == "2001:db8:45:1::/64"
    with pytest.raises(Exhausted):
        pools.take_text("internet", 6)
    pools.free("internet", one)
    assert pool.in_use == 2
    with pytest.raises(Exhausted):
        pools.take_text("internet", 6)
    pools.free("internet", two)
    assert pool.in_use == 1
    assert _taken(pools) == "2001:db8:45::/64"
    pools.free("internet", two)  # (released once only: the prefix stays the new session's)
    assert pool.in_use == 2


@pytest.mark.parametrize("reserved_first", [True, False])
def test_a_prefix_both_restored_as_its_own_and_held_is_freed_when_both_go(
    reserved_first: bool,
) -> None:
    """A /64 restored as the pool's own and a restored single address inside it (pools
    that overlapped before the restart): both restored in either order, the /64 in use
    once, free only when both have gone."""
    pools = UeAddressPools({"internet": (_net("2001:db8:45::/63"),)})
    (pool,) = pools.pools[("internet", 6)]
    prefix, single = _net("2001:db8:45::/64"), _net("2001:db8:45::1/128")
    if reserved_first:
        assert pools.reserve("internet", prefix)
        assert pools.hold("internet", single) == [pool]
    else:
        assert pools.hold("internet", single) == [pool]
        assert pools.reserve("internet", prefix)
    assert not pools.reserve("internet", prefix)  # (twice: refused)
    assert pool.in_use == 1
    pools.free("internet", prefix)
    assert pool.in_use == 1
    pools.free("internet", prefix)
    assert pool.in_use == 1  # (still held)
    pools.free("internet", single)
    assert pool.in_use == 0


def test_an_ipv4_address_of_a_larger_pool_then_is_the_same_unit() -> None:
    """A /16 then, a /24 now: an address inside the /24 is its own (reserved, not held);
    one outside it, or its network or broadcast address, overlaps nothing it hands out."""
    pools = UeAddressPools({"internet": (_net("10.45.0.0/24"),)})
    assert pools.reserve("internet", _net("10.45.0.7/32"))
    for outside in ("10.45.1.7/32", "10.45.0.0/32", "10.45.0.255/32"):
        assert not pools.owned("internet", _net(outside))
        assert pools.hold("internet", _net(outside)) == []
    assert pools.usage() == {"internet:10.45.0.0/24": 1}
    assert _taken(pools, 4) == "10.45.0.1/32"


# -- restored sessions ----------------------------------------------------------------------


def test_a_restored_prefix_over_a_new_pool_keeps_it_from_handing_addresses_out(
    datapath: LocalDatapath, caplog: pytest.LogCaptureFixture
) -> None:
    """2001:db8:45::/64 from a /48 of /64 prefixes; now a /120 of single addresses inside
    it: nothing is handed out until the session goes, then 2001:db8:45::1."""
    h = Harness(datapath, pools={"internet": (V6_PREFIXES,)})
    assert _ue(h.establish(*R.session_rules(v6=True))) == "2001:db8:45::"
    with caplog.at_level(logging.WARNING, "pfcpd.session"), reconfigured(h, 1, V6_SINGLE) as h2:
        (note,) = [r.getMessage() for r in caplog.records if "session 0x" in r.getMessage()]
        assert "2001:db8:45::/64 is in no pool" in note
        assert "held in use in 2001:db8:45::/120" in note
        assert h2.engine.ue_pools.usage() == {"internet:2001:db8:45::/120": 255}
        refused = h2.establish(*R.session_rules(v6=True), cp_seid=2)
        assert cause(refused) == Cause.ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED
        (seid,) = h2.engine.sessions
        assert cause(h2.delete(seid)) == 1
        assert h2.engine.ue_pools.usage() == {"internet:2001:db8:45::/120": 0}
        assert _ue(h2.establish(*R.session_rules(v6=True), cp_seid=3)) == "2001:db8:45::1"
        assert h2.engine.ue_pools.usage() == {"internet:2001:db8:45::/120": 1}


def test_a_restored_single_address_inside_a_new_prefix_pool_holds_that_prefix(
    datapath: LocalDatapath,
) -> None:
    """2001:db8:45::1 from a /120 of single addresses; now a /63 of /64 prefixes around it:
    its /64 is held (in use once) until the session goes, then comes back."""
    h = Harness(datapath, pools={"internet": (V6_SINGLE,)})
    assert _ue(h.establish(*R.session_rules(v6=True))) == "2001:db8:45::1"
    with reconfigured(h, 1, _net("2001:db8:45::/63")) as h2:
        ((label, used),) = h2.engine.ue_pools.usage().items()
        assert (label, used) == ("internet:2001:db8:45::/63", 1)
        new = up_seid(ok := h2.establish(*R.session_rules(v6=True), cp_seid=2))
        assert _ue(ok) == "2001:db8:45:1::"
        refused = h2.establish(*R.session_rules(v6=True), cp_seid=3)
        assert cause(refused) == Cause.ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED
        (restored,) = set(h2.engine.sessions) - {new}
        assert cause(h2.delete(restored)) == 1
        assert h2.engine.ue_pools.usage() == {label: 1}
        assert _ue(h2.establish(*R.session_rules(v6=True), cp_seid=4)) == "2001:db8:45::"
        assert h2.engine.ue_pools.usage() == {label: 2}


def test_restored_ipv4_addresses_of_a_larger_pool_then_are_reserved_or_kept_apart(
    datapath: LocalDatapath, caplog: pytest.LogCaptureFixture
) -> None:
    """A /16 then, a /29 now (the same unit): the addresses inside the /29 are its own again;
    its broadcast address and one past it are kept, logged, holding nothing of the /29."""
    h = Harness(datapath, pools={"internet": (_net("10.45.0.0/16"),)})
    got = [_ue(h.establish(cp_seid=i)) for i in range(1, 9)]
    assert got == [f"10.45.0.{i}" for i in range(1, 9)]
    with caplog.at_level(logging.WARNING, "pfcpd.session"), reconfigured(h, 8, POOL29) as h2:
        notes = [r.getMessage() for r in caplog.records if "session 0x" in r.getMessage()]
        assert [n.split(": ")[1] for n in notes] == [
            "UE address 10.45.0.7/32 is in no pool of internet now",
            "UE address 10.45.0.8/32 is in no pool of internet now",
        ]
        assert h2.engine.ue_pools.usage() == {"internet:10.45.0.0/29": 6}
        assert cause(h2.establish(cp_seid=9)) == Cause.ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED
        for seid in list(h2.engine.sessions):
            assert cause(h2.delete(seid)) == 1
        assert h2.engine.ue_pools.usage() == {"internet:10.45.0.0/29": 0}


def test_a_session_whose_restore_fails_gives_its_held_values_back(
    datapath: LocalDatapath, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Harness(datapath, pools={"internet": (V6_PREFIXES,)})
    _ue(h.establish(*R.session_rules(v6=True)))

    def refused(*_: object) -> None:
        raise RuntimeError("datapath refuses")

    monkeypatch.setattr(LocalDatapath, "install", refused)
    dp = LocalDatapath(expected_sessions=16)
    try:
        journal = MemoryJournal()
        journal.records = dict(h.journal.records)
        h2 = Harness(dp, journal, pools={"internet": (V6_SINGLE,)})
        assert h2.engine.restore(journal.items(), 0.0) == 0  # (the install refused)
        assert h2.engine.metrics.restore_failures.get() == 1
        assert h2.engine.ue_pools.usage() == {"internet:2001:db8:45::/120": 0}
        assert _taken(h2.engine.ue_pools) == "2001:db8:45::1/128"
    finally:
        dp.close()
