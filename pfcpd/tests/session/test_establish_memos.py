"""What an establishment keeps by shape in the engine (`ShapeMemos.checked`,
`ShapeMemos.plans`): a request that differs from a kept shape in what the memo
stands for gets the answer it would get without the memo."""

from __future__ import annotations

import ipaddress

import pytest

from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.node.session_handler import Peer
from pfcpd.pfcp import IE, Grouped, IEType, Message, decode, encode
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp.ies_address import NodeID
from pfcpd.pfcp.ies_traffic import FailedRuleID
from pfcpd.session import EngineSettings, MemoryJournal, SessionEngine, choosing, establishment
from pfcpd.session.rules import ie_value
from pfcpd.smfsim import rules as R

T = IEType
PEER, NODE = Peer("smf", ("127.0.0.1", 8805)), NodeID.from_text("127.0.0.1")


def _engine() -> SessionEngine:
    lo = ipaddress.ip_address("127.0.0.1")
    pools = {
        "internet": (ipaddress.ip_network("10.45.0.0/24"),),
        "ims": (ipaddress.ip_network("10.46.0.0/24"),),
    }
    settings = EngineSettings(n3_address=lo, pfcp_address=lo, ue_pools=pools)
    return SessionEngine(settings, LocalDatapath(), MemoryJournal())


_cp_seid = iter(range(1, 1 << 20))


def _establish(engine: SessionEngine, ies: list[IE]) -> Message:
    n = next(_cp_seid)
    req = R.establishment_request("smf", "127.0.0.1", n, ies, seq=n)  # type: ignore[arg-type]
    answer = engine.handle_request(decode(encode(req)), PEER, NODE, 0.0)
    engine.commit()
    return answer


def _refused_for(answer: Message) -> tuple[int, int] | None:
    failed = answer.get(T.FAILED_RULE_ID)
    return (failed.rule_type, failed.rule_id) if isinstance(failed, FailedRuleID) else None


def _bar() -> Grouped:
    return R.group(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(10))


def _dl_far_with_bar() -> Grouped:
    far = R.dl_far(gnb=None)
    far.ies.append(S.BARID(1))
    return far


@pytest.mark.parametrize(
    "missing",
    ["far", "qer", "bar"],
)
def test_a_checked_shape_does_not_pass_rules_missing_what_it_had(missing: str) -> None:
    """The PDRs and URRs are those of a shape checked before; what they (or the FARs) name
    is missing: 73 naming it, as without the memo."""
    engine = _engine()
    full = [*R.session_rules(), _bar()]
    full[3] = _dl_far_with_bar()
    assert ie_value(_establish(engine, full), T.CAUSE) == 1
    assert engine.memos.checked
    at = {"far": 3, "qer": 4, "bar": 6}[missing]  # (the downlink FAR, the QER, the BAR)
    lacking = [g for i, g in enumerate(full) if i != at]
    answer = _establish(engine, lacking)
    assert ie_value(answer, T.CAUSE) == 73
    assert _refused_for(answer) == {"far": (1, 2), "qer": (2, 1), "bar": (4, 1)}[missing]


def test_checked_shapes_are_bounded_and_dropped_with_the_caches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = _engine()
    monkeypatch.setattr(establishment, "SHAPE_ENTRIES", 2)  # (memos.checked)
    monkeypatch.setattr(choosing, "SHAPE_ENTRIES", 2)  # (memos.plans)
    for precedence in (1, 2, 3):
        rules = R.session_rules()
        rules[0].ies[1] = S.Precedence(precedence)
        assert ie_value(_establish(engine, rules), T.CAUSE) == 1
        assert len(engine.memos.checked) <= 2 and len(engine.memos.plans) <= 2
    engine.drop_caches()
    assert not engine.memos.checked and not engine.memos.plans and not engine._ctx.compiled


def test_the_ue_pool_of_a_pdr_follows_its_octets() -> None:
    """PDRs of the same ID naming other network instances (kept by octets: each its own
    pool)."""
    engine = _engine()
    for instance, prefix in (
        ("internet", "10.45.0."),
        ("ims", "10.46.0."),
        ("internet", "10.45.0."),
    ):
        rules = R.session_rules()
        for pdr in rules[:2]:
            pdi = pdr.get(T.PDI)
            assert isinstance(pdi, Grouped)
            pdi.ies = [
                X.NetworkInstance(instance) if c.type == T.NETWORK_INSTANCE else c for c in pdi.ies
            ]
        answer = _establish(engine, rules)
        assert ie_value(answer, T.CAUSE) == 1
        created = [ie for g in answer.get_all(T.CREATED_PDR) for ie in g.ies]  # type: ignore[attr-defined]
        ue = [ie for ie in created if ie.type == T.UE_IP_ADDRESS]
        assert ue and all(u.ipv4.startswith(prefix) for u in ue)  # type: ignore[attr-defined]
    assert len(engine.memos.plans) == 4  # (uplink and downlink PDR of each instance)
