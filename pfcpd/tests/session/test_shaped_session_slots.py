"""The session an establishment of a known shape makes (`Establishment._establish`: a copy of
`BLANK_SESSION` whose fields it sets itself, repeating `Session.__init__`'s compaction of
the TEIDs, UE addresses and FARs' peers, and `Session.key`) is the one the long way makes
(``Session(...)``, then `Session.set_rules`) of the same request: every slot of the class
and its bases, value and type, and its key. For shapes with CH F-TEIDs (shared by CHOOSE
ID, or each its own), CHV4, CHV6 and both, with and without QERs and URRs, two URRs, a
buffering BAR, FQ-CSIDs and a Group Id, several PDRs, a CP F-SEID of IPv4 or IPv6, on an
N3 address of IPv4 and of IPv6. A slot `Session.__init__` sets from its inputs that the
shaped copy does not set fails this."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest
from datapath.conftest import require_core
from test_shaped_install import _on_n3

from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.node.session_handler import Peer
from pfcpd.pfcp import IE, Grouped, IEType, Message, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.session import EngineSettings, MemoryJournal, SessionEngine, establishment
from pfcpd.session.rules import ie_value
from pfcpd.session.session import Session
from pfcpd.smfsim import rules as R

T = IEType
PEER, NODE = Peer("smf", ("127.0.0.1", 8805)), A.NodeID.from_text("127.0.0.1")
MISSING = object()  # (a slot left unset)


def _bare(n: int) -> list[IE]:
    """Neither QER nor URR: two PDRs and their FARs alone."""
    return [
        R.ul_pdr(qer_id=None, urr_id=None),
        R.dl_pdr(qer_id=None, urr_id=None),
        R.ul_far(),
        R.dl_far(teid=0x400 + n),
    ]


def _two_urrs(n: int) -> list[IE]:
    """A URR per PDR (the books a dict), a QER, a volume threshold on one URR."""
    return [
        R.ul_pdr(urr_id=1),
        R.dl_pdr(urr_id=2),
        R.ul_far(),
        R.dl_far(teid=0x500 + n),
        R.qer(mbr_kbps=(1000, 2000)),
        R.urr(1),
        R.urr(2, volume_threshold=1_000_000),
    ]


def _four_pdrs(n: int) -> list[IE]:
    """Four PDRs: two uplink on F-TEIDs of their own (CH without CHOOSE ID), two downlink."""
    rules = R.session_rules(gnb_teid=0x600 + n)
    ul2, dl2 = R.ul_pdr(pdr_id=3, urr_id=None), R.dl_pdr(pdr_id=4, urr_id=None)
    ul1 = rules[0]
    for pdr in (ul1, ul2):
        pdi = pdr.get(T.PDI)
        assert isinstance(pdi, Grouped)
        pdi.ies = [
            A.FTEID(choose=True, choose_v4=True) if c.type == T.F_TEID else c for c in pdi.ies
        ]
    pdi = dl2.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies.append(S.QFI(5))
    return [ul1, rules[1], ul2, dl2, *rules[2:]]


def _buffering(n: int) -> list[IE]:
    """No gNB yet: the DL FAR buffers (BAR with a DL Data Notification Delay)."""
    rules = R.session_rules(gnb=None)
    far = rules[3]
    assert isinstance(far, Grouped)
    far.ies.append(S.BARID(1))
    return [*rules, R.group(T.CREATE_BAR, S.BARID(1), S.DownlinkDataNotificationDelay(3))]


def _sets(n: int) -> list[IE]:
    """FQ-CSID and Group Id (part of the shape)."""
    csid = A.FQCSID(node_address="192.0.2.1", csids=(7,), node_type=0)
    return [*R.session_rules(gnb_teid=0x700 + n), csid, X.GroupID("g1")]


# Shape name -> the rules of its n-th request
SHAPES: dict[str, Callable[[int], list[IE]]] = {
    "chv4": lambda n: R.session_rules(gnb_teid=0x100 + n),
    "chv6": lambda n: R.session_rules(v6=True, gnb_teid=0x200 + n),
    "dual_stack": lambda n: R.session_rules(dual_stack=True, gnb_teid=0x300 + n),
    "bare": _bare,
    "two_urrs": _two_urrs,
    "four_pdrs": _four_pdrs,
    "buffering": _buffering,
    "sets": _sets,
}
ROUNDS = 4  # (of each shape: filled in from the third on)


def _script(v6: bool) -> list[Message]:
    """Every shape ``ROUNDS`` times, interleaved; CP F-SEIDs at IPv4 and IPv6 by turns."""
    out, seq = [], 0
    for _ in range(ROUNDS):
        for make in SHAPES.values():
            seq += 1
            cp = "192.0.2.50" if seq % 2 else "2001:db8:50::1"
            rules = _on_n3(make(seq), v6)
            out.append(R.establishment_request("smf", cp, 0x1000 + seq, rules, seq=seq))
    return out


def _sessions(monkeypatch: pytest.MonkeyPatch, v6: bool, shapes: bool) -> tuple[SessionEngine, int]:
    """The engine after the script (``shapes``: with its shape memos, else the long way
    every time), and how many requests it filled in from a shape."""
    n3 = ipaddress.ip_address("2001:db8::3" if v6 else "127.0.0.1")
    pools = {
        "internet": (
            ipaddress.ip_network("10.45.0.0/24"),
            ipaddress.ip_network("2001:db8:45::/56"),
        )
    }
    settings = EngineSettings(
        n3_address=n3, pfcp_address=ipaddress.ip_address("127.0.0.1"), ue_pools=pools
    )
    dp = LocalDatapath(expected_sessions=64)
    engine = SessionEngine(settings, dp, MemoryJournal(), ntp_clock=lambda: 3.9e9)
    filled = 0
    fill = engine._fill

    def counted(*args: object) -> object:
        nonlocal filled
        filled += 1
        return fill(*args)  # type: ignore[arg-type]

    engine._fill = counted  # type: ignore[assignment,method-assign]
    try:
        with monkeypatch.context() as m:
            if not shapes:
                m.setattr(establishment, "establishment_key", lambda request: None)
            for req in _script(v6):
                answer = engine.handle_request(decode(encode(req)), PEER, NODE, 0.0)
                assert ie_value(answer, T.CAUSE) == 1, answer
                engine.commit()
    finally:
        dp.close()
    return engine, filled


def _slots(cls: type) -> list[str]:
    """Every slot of ``cls`` and its bases."""
    names: list[str] = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names += [slots] if isinstance(slots, str) else list(slots)
    return names


def _typed(value: object) -> object:
    """``value`` with the type of each part (tuples, lists, frozensets, dicts: their items)."""
    if isinstance(value, (tuple, list)):
        return type(value), [_typed(v) for v in value]
    if isinstance(value, frozenset):
        return type(value), sorted(map(repr, value))
    if isinstance(value, dict):
        return type(value), [(_typed(k), _typed(v)) for k, v in value.items()]
    return type(value), value


@pytest.mark.parametrize("v6", [False, True], ids=["n3_v4", "n3_v6"])
def test_a_shaped_session_is_slot_for_slot_the_long_ways(
    monkeypatch: pytest.MonkeyPatch, v6: bool
) -> None:
    require_core()
    shaped, filled = _sessions(monkeypatch, v6, shapes=True)
    long_way, none = _sessions(monkeypatch, v6, shapes=False)
    assert none == 0
    # (each shape learnt at its second request, filled in from its third)
    assert filled == (ROUNDS - 2) * len(SHAPES)
    assert list(shaped.sessions) == list(long_way.sessions)
    assert len(shaped.sessions) == ROUNDS * len(SHAPES)
    names = _slots(Session)
    assert {"up_seid", "teids_kept", "ue_kept", "peers_kept", "cp_moves"} <= set(names)
    for seid, session in shaped.sessions.items():
        expected = long_way.sessions[seid]
        assert type(session) is type(expected) is Session
        for name in names:
            got, want = getattr(session, name, MISSING), getattr(expected, name, MISSING)
            assert _typed(got) == _typed(want), (seid, name)
        assert session.key == expected.key == f"s:{seid:x}"
        # (its journal record is the same too)
        assert session.record() == expected.record()
    # The engines' journal keys are the sessions' keys.
    assert shaped.journal.records.keys() == long_way.journal.records.keys()  # type: ignore[attr-defined]
    assert {f"s:{seid:x}" for seid in shaped.sessions} <= set(shaped.journal.records)  # type: ignore[attr-defined]
