"""Establishments of a known shape installed from the session's own values alone
(`SessionEngine._dp_install_filled`, the datapath's `ShapedInstall`): the bar is what the
engine installs without it (its program, `install`) for the same requests. Hundreds of
establishments of shapes with a `FillPlan` (CHOOSE F-TEID shared by CHOOSE ID between two
PDRs, F-TEIDs of their own, two network instances, a BAR, FQ-CSIDs), an IPv4 and an
IPv6 N3 address, sessions deleted as they go, the engine's and the datapath's shapes
dropped: the same answers, journal records, descriptors handed to the library, what the
datapath keeps and how the sessions behave; and which way each install took."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest
from datapath.conftest import require_core
from datapath.descriptor_recorder import DescriptorRecorder
from test_establishment_shapes import _probe

from pfcpd.datapath.interface import SessionProgram
from pfcpd.datapath.local.engine import _NO_LAST, LocalDatapath, with_slots
from pfcpd.node.session_handler import Peer
from pfcpd.pfcp import IE, Grouped, IEType, Message, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.session import EngineSettings, MemoryJournal, SessionEngine
from pfcpd.session.rules import ie_value
from pfcpd.smfsim import rules as R

T = IEType
PEER, NODE = Peer("smf", ("127.0.0.1", 8805)), A.NodeID.from_text("127.0.0.1")


def _on_n3(ies: list[IE], v6: bool) -> list[IE]:
    """``ies`` for an IPv6 N3 address (``v6``): CH F-TEIDs of IPv6, IPv6 gNB peers."""
    if not v6:
        return ies
    for ie in ies:
        if isinstance(ie, Grouped):
            _on_n3(ie.ies, v6)
            ie.ies = [
                A.FTEID(choose=True, choose_v6=True, choose_id=c.choose_id)
                if isinstance(c, A.FTEID)
                else R.gnb_tunnel(c.teid or 0, "2001:db8:9::9")
                if isinstance(c, A.OuterHeaderCreation)
                else c
                for c in ie.ies
            ]
    return ies


def _shared_choose_id(n: int) -> list[IE]:
    """Two uplink PDRs on one F-TEID (CHOOSE ID 1), the second for QFI 5."""
    rules = R.session_rules(gnb_teid=0x300 + n)
    second = R.ul_pdr(pdr_id=3, qer_id=None, urr_id=None)
    pdi = second.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies.append(S.QFI(5))
    return [rules[0], second, *rules[1:]]


def _own_fteids(n: int) -> list[IE]:
    """Two uplink PDRs, each with an F-TEID of its own (CHOOSE without CHOOSE ID)."""
    rules = R.session_rules(gnb_teid=0x400 + n)
    second = R.ul_pdr(pdr_id=3, qer_id=None, urr_id=None)
    for pdr in (rules[0], second):
        pdi = pdr.get(T.PDI)
        assert isinstance(pdi, Grouped)
        pdi.ies = [
            A.FTEID(choose=True, choose_v4=True) if c.type == T.F_TEID else c for c in pdi.ies
        ]
    return [rules[0], second, *rules[1:]]


def _ims(n: int) -> list[IE]:
    rules = R.session_rules(gnb_teid=0x500 + n)
    return [R.ul_pdr(network_instance="ims"), R.dl_pdr(network_instance="ims"), *rules[2:]]


def _buffering(n: int) -> list[IE]:
    rules = R.session_rules(gnb=None)
    far = rules[3]
    assert isinstance(far, Grouped)
    far.ies.append(S.BARID(1))
    return [*rules, R.group(T.CREATE_BAR, S.BARID(1), S.DownlinkDataNotificationDelay(3))]


def _with_csid(n: int) -> list[IE]:
    csid = A.FQCSID(node_address="192.0.2.1", csids=(7,), node_type=0)
    return [*R.session_rules(mbr_kbps=(1000, 2000), gnb_teid=0x600 + n), csid]


SHAPES: dict[str, Callable[[int], list[IE]]] = {
    "usual": lambda n: R.session_rules(gnb_teid=0x100 + n),
    "shared_choose_id": _shared_choose_id,
    "own_fteids": _own_fteids,
    "ims": _ims,
    "buffering": _buffering,
    "csid": _with_csid,
}


class _Run:
    """An engine on the local datapath (``fast``: with its `ShapedInstall`, else without),
    with what it answered and journaled, each descriptor the library installed, the
    program each session last had and each install's way: ("program", its token set) or
    ("values", the datapath kept the shape)."""

    def __init__(self, fast: bool, n3: str) -> None:
        addr = ipaddress.ip_address(n3)
        pools = {
            "internet": (ipaddress.ip_network("10.45.0.0/22"),),
            "ims": (ipaddress.ip_network("10.46.0.0/22"),),
        }
        settings = EngineSettings(n3_address=addr, pfcp_address=addr, ue_pools=pools)
        self.v6 = addr.version == 6
        self.dp = dp = LocalDatapath(expected_sessions=64)
        self.journal = MemoryJournal()
        self.engine = SessionEngine(settings, dp, self.journal, ntp_clock=lambda: 3.9e9)
        if not fast:
            self.engine._shaped = None  # (as for a datapath without `ShapedInstall`)
        self.answers: list[bytes] = []
        self.descriptors = DescriptorRecorder(dp).descriptors
        self.ways: list[tuple[str, bool]] = []
        self.programs: dict[int, SessionProgram] = {}
        install, install_shaped = dp.install, dp.install_shaped

        def installed(seid: int, program: SessionProgram, **kwargs: bool) -> None:
            self.ways.append(("program", program.token is not None))
            install(seid, program, **kwargs)
            self.programs[seid] = program

        def from_values(seid: int, token: object, *values: Any) -> bool:
            kept = dp._shapes.get(token)
            done = install_shaped(seid, token, *values)
            self.ways.append(("values", done))
            if done:
                assert kept is not None
                self.programs[seid] = with_slots(kept.program, *values)
            return done

        dp.install = installed  # type: ignore[method-assign]
        dp.install_shaped = from_values  # type: ignore[method-assign]

    def handle(self, req: Message) -> Message:
        answer = self.engine.handle_request(decode(encode(req)), PEER, NODE, 0.0)
        self.engine.commit()
        self.answers.append(encode(answer))
        return answer

    def establish(self, seq: int, ies: list[IE]) -> int | None:
        req = R.establishment_request("smf", "127.0.0.1", seq, _on_n3(ies, self.v6), seq=seq)
        answer = self.handle(req)
        if ie_value(answer, T.CAUSE) != 1:
            return None
        fseid = answer.get(T.F_SEID)
        assert isinstance(fseid, A.FSEID)
        return fseid.seid

    def script(self) -> None:
        """Eight rounds of every shape, each deleting the sessions of the round two before;
        the engine's shape memos dropped before the fourth (new shapes, new tokens), the
        datapath's shapes before the sixth (tokens it no longer keeps)."""
        seq = 0
        rounds: list[list[int]] = []
        for n in range(8):
            if n == 3:
                self.engine.drop_caches()
            if n == 5:
                self.dp._shapes.clear()  # (as `_packed` empties them when full)
                self.dp._last = _NO_LAST
            made: list[int] = []
            for make in SHAPES.values():
                for _ in range(6):
                    seq += 1
                    seid = self.establish(seq, make(seq))
                    if seid is not None:
                        made.append(seid)
            rounds.append(made)
            if n >= 2:
                for up_seid in rounds[n - 2]:
                    seq += 1
                    self.handle(R.deletion_request(up_seid, seq=seq))

    def state(self) -> list[object]:
        dp = self.dp
        out: list[object] = []
        for seid in sorted(dp._programs):
            program = self.programs[seid]
            kept = (dp._programs[seid], seid in dp._ticking)
            results = _probe(dp, program)
            out.append((seid, kept, results, dp.poll_events(), dp.buffered(seid), dp.remove(seid)))
        return out


def _run(fast: bool, n3: str) -> tuple[_Run, list[object]]:
    run = _Run(fast, n3)
    try:
        run.script()
        return run, run.state()
    finally:
        run.dp.close()


@pytest.mark.parametrize("n3", ["127.0.0.1", "::1"])
def test_known_shapes_install_from_their_values_what_their_programs_do(n3: str) -> None:
    require_core()
    slow, slow_state = _run(False, n3)
    fast, fast_state = _run(True, n3)
    assert len(fast.answers) > 250
    causes = [ie_value(decode(a), T.CAUSE) for a in fast.answers]
    assert causes.count(1) == len(causes)
    assert fast.answers == slow.answers
    assert fast.journal.records == slow.journal.records
    assert fast.descriptors == slow.descriptors
    assert len(fast_state) > 50 and fast_state == slow_state
    # The ways: without `ShapedInstall`, programs only; with it, from the values but when
    # the datapath does not keep the shape.
    assert {w for w, _ in slow.ways} == {"program"}
    assert fast.ways.count(("values", True)) > 150
    establishments = sum(1 for w in fast.ways if w != ("values", False))
    assert establishments == sum(1 for w in slow.ways)


def test_which_way_each_install_takes() -> None:
    """Of one shape: the first two the long way (no token: the engine learns the shape),
    the next two from values refused (the datapath has not kept the token yet), then by
    their program with its token; from the values on; after the datapath dropped its
    shapes, once refused and by the program (the datapath keeps it again: it saw the
    token before), then from the values."""
    require_core()
    run = _Run(True, "127.0.0.1")
    try:
        for seq in range(1, 7):
            assert run.establish(seq, R.session_rules(gnb_teid=seq)) is not None
        run.dp._shapes.clear()
        run.dp._last = _NO_LAST
        for seq in range(7, 10):
            assert run.establish(seq, R.session_rules(gnb_teid=seq)) is not None
    finally:
        run.dp.close()
    refused, by_program = ("values", False), ("program", True)
    assert run.ways == [
        ("program", False),
        ("program", False),
        refused,
        by_program,
        refused,
        by_program,
        ("values", True),
        ("values", True),
        refused,
        by_program,
        ("values", True),
        ("values", True),
    ]
