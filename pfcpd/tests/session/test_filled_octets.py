"""The octets of a PDR the UP function filled in (CHOOSE F-TEID, CHV4/CHV6) are made from
the rest of the PDR's octets, kept by shape (`engine._SPLICES`): byte for byte what
encoding the filled-in group gives, for every way a PDR asks for allocations."""

from __future__ import annotations

import ipaddress

import pytest

from pfcpd.pfcp import Grouped, IEType, decode, encode, encode_groups
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.session import EngineSettings, SessionEngine
from pfcpd.session import engine as E
from pfcpd.session.rules import RuleSet
from pfcpd.smfsim import rules as R

T = IEType


class _Journal:
    def commit(self, puts: dict[str, bytes], deletes: list[str]) -> None:
        return None


def _engine() -> SessionEngine:
    from pfcpd.datapath.local.engine import LocalDatapath

    lo = ipaddress.ip_address("127.0.0.1")
    pools = (ipaddress.ip_network("10.45.0.0/24"), ipaddress.ip_network("2001:db8::/56"))
    settings = EngineSettings(n3_address=lo, pfcp_address=lo, ue_pools={"internet": pools})
    return SessionEngine(settings, LocalDatapath(), _Journal())


def _decoded(ies: list[object], teid: int = 1) -> RuleSet:
    msg = decode(encode(R.establishment_request("smf", "127.0.0.1", teid, ies, seq=1)))  # type: ignore[arg-type]
    rules = RuleSet()
    rules.create(msg)
    return rules


def _given_and_chosen() -> Grouped:
    """A PDR whose UE IP Address gives an IPv4 address and asks for an IPv6 one, after an
    F-TEID chosen with the uplink PDR's CHOOSE ID, with children after the PDI."""
    pdi = R.group(
        T.PDI,
        S.SourceInterface(0),
        A.FTEID(choose=True, choose_v4=True, choose_id=1),
        X.NetworkInstance("internet"),
        A.UEIPAddress(ipv4="10.45.0.200", choose_v6=True, source=True),
    )
    return R.group(T.CREATE_PDR, S.PDRID(7), pdi, S.Precedence(9), S.FARID(1), S.URRID(1))


SHAPES = {
    "v4": R.session_rules(),
    "v6": R.session_rules(v6=True),
    "dual stack": R.session_rules(dual_stack=True),
    "given and chosen": [*R.session_rules(), _given_and_chosen()],
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_filled_in_octets_are_what_encoding_the_group_gives(shape: str) -> None:
    engine = _engine()
    for teid in (1, 2):  # (the second one from the kept octets)
        rules = _decoded(SHAPES[shape], teid)
        sent = {pdr_id: g.raw for pdr_id, g in rules.pdr.items()}
        engine._allocate(rules, E._Allocations())
        filled = 0
        for pdr_id, g in rules.pdr.items():
            assert g.raw is not None
            if g.raw == sent[pdr_id]:
                continue  # (nothing filled in)
            filled += 1
            assert sent[pdr_id] in E._SPLICES
            made = g.raw
            g.raw = None
            assert made == encode_groups([g])
        assert filled == len(rules.pdr)


def test_kept_octets_of_another_shape_are_not_used() -> None:
    """Kept octets whose filled-in positions are not the PDR's (an entry planted under its
    octets) are made again."""
    engine = _engine()
    rules = _decoded(R.session_rules())
    raw = rules.pdr[1].raw
    assert raw is not None
    E._SPLICES[raw] = E._Splice(0, b"x", b"y", (0,), (b"", b""))
    engine._allocate(rules, E._Allocations())
    made = rules.pdr[1].raw
    rules.pdr[1].raw = None
    assert made == encode_groups([rules.pdr[1]])


def test_kept_octets_are_bounded_and_dropped_with_the_caches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = _engine()
    engine.drop_caches()
    assert not E._SPLICES
    monkeypatch.setattr(E, "SPLICE_ENTRIES", 2)
    for precedence in (1, 2, 3):
        pdr = R.ul_pdr()
        pdr.ies[1] = S.Precedence(precedence)
        rules = _decoded([pdr, *R.session_rules()[1:]], precedence)
        engine._allocate(rules, E._Allocations())
        assert len(E._SPLICES) <= 2
    assert E._SPLICES
    engine.drop_caches()
    assert not E._SPLICES


def test_session_ue_texts_are_the_networks_texts() -> None:
    """`_Allocations.texts` gives what str() of each allocated network gives."""
    engine = _engine()
    rules = _decoded(R.session_rules(dual_stack=True))
    alloc = E._Allocations()
    engine._allocate(rules, alloc)
    assert len(alloc.ue) == 2
    assert E._texts(alloc.ue, alloc.texts) == E._texts(alloc.ue)
    assert E._texts(alloc.ue) == tuple((name, str(net)) for name, net in alloc.ue)
