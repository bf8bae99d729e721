"""The octets of a PDR the UP function filled in (CHOOSE F-TEID, CHV4/CHV6) are made from
the rest of the PDR's octets, kept by shape (`shapes.PdrPlan`, `ShapeMemos.plans`): byte
for byte what encoding the filled-in group gives, for every way a PDR asks for allocations,
and when the CP's octets are not what encoding gives."""

from __future__ import annotations

import ipaddress

import pytest

from pfcpd.pfcp import Grouped, IEType, decode, decode_ies, encode, encode_groups
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.session import EngineSettings, SessionEngine, choosing, shapes
from pfcpd.session.choosing import Allocations
from pfcpd.session.errors import RuleError
from pfcpd.session.rules import RuleSet
from pfcpd.session.session import ue_texts
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
        engine._allocate(rules, Allocations())
        filled = 0
        for pdr_id, g in rules.pdr.items():
            assert g.raw is not None
            if g.raw == sent[pdr_id]:
                continue  # (nothing filled in)
            filled += 1
            assert sent[pdr_id] in engine.memos.plans
            made = g.raw
            g.raw = None
            assert made == encode_groups([g])
        assert filled == len(rules.pdr)


def test_octets_the_cp_sent_unlike_their_encoding_are_encoded() -> None:
    """A PDR whose octets (a Precedence with a spare octet after its value) are not what
    encoding its IEs gives: the filled-in octets are what encoding the group gives, not
    the CP's with the allocations spliced in."""
    engine = _engine()
    for teid in (1, 2):  # (the second one from the kept plan)
        rules = _decoded(R.session_rules(), teid)
        raw = rules.pdr[1].raw
        assert raw is not None
        precedence = encode_groups([S.Precedence(200)])
        at = raw.index(precedence)
        longer = precedence[:2] + b"\x00\x05" + precedence[4:] + b"\x00"
        odd = raw[:at] + longer + raw[at + len(precedence) :]
        odd = odd[:2] + (len(odd) - 4).to_bytes(2, "big") + odd[4:]
        (group,) = decode_ies(odd, 0, len(odd))
        assert isinstance(group, Grouped)
        odd_rules = RuleSet()
        odd_rules.create({T.CREATE_PDR: [group]})
        assert odd_rules.pdr[1].raw == odd
        engine._allocate(odd_rules, Allocations())
        made = odd_rules.pdr[1].raw
        odd_rules.pdr[1].raw = None
        assert made == encode_groups([odd_rules.pdr[1]])
        assert engine.memos.plans[odd].pieces is not None


def test_kept_octets_are_bounded_and_dropped_with_the_caches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = _engine()
    engine.drop_caches()
    assert not engine.memos.plans
    monkeypatch.setattr(choosing, "SHAPE_ENTRIES", 2)
    for precedence in (1, 2, 3):
        pdr = R.ul_pdr()
        pdr.ies[1] = S.Precedence(precedence)
        rules = _decoded([pdr, *R.session_rules()[1:]], precedence)
        engine._allocate(rules, Allocations())
        assert len(engine.memos.plans) <= 2
    assert engine.memos.plans
    engine.drop_caches()
    assert not engine.memos.plans


def test_a_plan_is_used_for_the_octets_it_was_made_of() -> None:
    """A plan kept under a PDR's octets is what fills that PDR in (planted: its UE pool
    instance is then another one's), and only that PDR."""
    engine = _engine()
    rules = _decoded(R.session_rules())
    raw = rules.pdr[1].raw
    assert raw is not None
    plan = engine._pdr_plan(1, rules.pdr[1])
    assert plan is not None and plan.pool == "internet"
    engine.memos.plans[raw] = plan._replace(pool="elsewhere")
    with pytest.raises(RuleError):  # ("elsewhere" has no UE pool)
        engine._allocate(rules, Allocations())
    engine.drop_caches()
    engine._allocate(_decoded(R.session_rules()), Allocations())
    assert engine.memos.plans[raw].pool == "internet"


def test_pdi_slots_find_what_pdr_shape_leaves_out() -> None:
    rules = _decoded([*R.session_rules(), _given_and_chosen()])
    for g in rules.pdr.values():
        assert g.raw is not None
        found = shapes.pdi_slots(g.raw)
        assert found is not None
        pdi = g.ies[found.pdi_at]
        assert isinstance(pdi, Grouped) and pdi.type == T.PDI
        assert g.raw[found.start : found.stop] == encode_groups([pdi])
        want = [i for i, c in enumerate(pdi.ies) if c.type in (T.F_TEID, T.UE_IP_ADDRESS)]
        assert [p for p, _, _ in found.slots] == want
        for p, first, after in found.slots:
            assert g.raw[first:after] == encode_groups([pdi.ies[p]])


def test_session_ue_texts_are_the_networks_texts() -> None:
    """`Allocations.texts` gives what str() of each allocated network gives."""
    engine = _engine()
    rules = _decoded(R.session_rules(dual_stack=True))
    alloc = Allocations()
    engine._allocate(rules, alloc)
    assert len(alloc.ue) == 2
    assert ue_texts(alloc.ue, alloc.texts) == ue_texts(alloc.ue)
    assert ue_texts(alloc.ue) == tuple((name, str(net)) for name, net in alloc.ue)
