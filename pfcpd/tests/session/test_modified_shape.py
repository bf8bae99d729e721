"""Modifications that only update a FAR's outer header (a handover's Update FAR) hand the
datapath the token of the programs they make (`SessionEngine._modified_shape`): the
local datapath then finds the shape it keeps by it, with no `_shape_key` made. The bar:
every descriptor handed to the library, what the datapath keeps of each session and how
the sessions behave are what it makes of the same programs without their tokens, through
modifications that change the structure (a FAR buffering, then forwarding again; a PDR
created and removed; an update of another shape, with an End Marker), UE prefixes of two lengths,
dual-stack sessions and the engine's memos dropped."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from datapath.conftest import require_core
from test_establishment_shapes import SHAPES, _TokenRun

from pfcpd.datapath.interface import SessionProgram
from pfcpd.datapath.local import engine as local_engine
from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.node.session_handler import Peer
from pfcpd.pfcp import IE, IEType, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.session import EngineSettings, MemoryJournal, SessionEngine
from pfcpd.session.rules import ie_value
from pfcpd.smfsim import rules as R

T = IEType
PEER, NODE = Peer("smf", ("127.0.0.1", 8805)), A.NodeID.from_text("127.0.0.1")
MODIFIED = ("usual", "v6", "dual_stack", "ims", "own_fteids", "buffering", "sets")


def _buffer(far_id: int = 2) -> IE:
    return R.group(T.UPDATE_FAR, S.FARID(far_id), F.ApplyAction.of("BUFF", "NOCP"))


def _extra_pdr() -> IE:
    return R.dl_pdr(pdr_id=9, qer_id=None, urr_id=None)


class _ModifyRun(_TokenRun):
    """`_TokenRun` of sessions of several shapes modified over and over: FAR updates to
    gNB tunnels of one update shape, of another (with an End Marker), structure changes
    between them; the engine's memos dropped once."""

    def script(self, m: pytest.MonkeyPatch) -> None:
        seq = 0
        sessions: list[int] = []
        for _ in range(5):
            for name in MODIFIED:
                seq += 1
                answer = self.handle(
                    R.establishment_request("smf", "127.0.0.1", seq, SHAPES[name](seq), seq=seq)
                )
                assert ie_value(answer, T.CAUSE) == 1
                fseid = answer.get(T.F_SEID)
                assert isinstance(fseid, A.FSEID)
                sessions.append(fseid.seid)
        self.established = self.patched
        steps: list[list[IE]] = [
            [R.update_dl_far(2, 0x9000, "192.0.2.10")],
            [R.update_dl_far(2, 0x9100, "192.0.2.11")],
            [R.update_dl_far(2, 0x9200, "192.0.2.12", end_marker=True)],  # (another shape)
            [_buffer()],  # (no outer header: another structure)
            [R.update_dl_far(2, 0x9400, "192.0.2.13")],
            [_extra_pdr()],  # (a third PDR: another layout)
            [R.update_dl_far(2, 0x9500, "192.0.2.14")],
            [R.group(T.REMOVE_PDR, S.PDRID(9))],
            [R.update_dl_far(2, 0x9600, "192.0.2.15")],
            [R.update_dl_far(2, 0x9700, "192.0.2.16")],
        ]
        for n, ies in enumerate(steps):
            if n == 5:
                self.engine.drop_caches()
            for i, seid in enumerate(sessions):
                seq += 1
                again = [_again(ie, i) for ie in ies]
                self.handle(R.modification_request(seid, again, seq=seq))


def _again(ie: IE, i: int) -> IE:
    """``ie`` for the ``i``-th session: an Update FAR's tunnel TEID its own."""
    if ie.type != T.UPDATE_FAR or ("192.0.2." not in repr(ie) and "2001:" not in repr(ie)):
        return ie
    ohc = ie.get(T.UPDATE_FORWARDING_PARAMETERS).get(T.OUTER_HEADER_CREATION)  # type: ignore[union-attr]
    assert isinstance(ohc, A.OuterHeaderCreation)
    peer = ohc.ipv4
    assert peer is not None and ohc.teid is not None
    sndem = ie.get(T.UPDATE_FORWARDING_PARAMETERS).get(T.PFCPSMREQ_FLAGS) is not None  # type: ignore[union-attr]
    return R.update_dl_far(2, ohc.teid + i, peer, end_marker=sndem)


def _modify_run(monkeypatch: pytest.MonkeyPatch, mode: str) -> tuple[_ModifyRun, list[object]]:
    with monkeypatch.context() as m:
        run = _ModifyRun(mode)
        try:
            run.script(m)
            return run, run.state()
        finally:
            run.close()


def test_modified_programs_named_by_their_shape_install_what_they_do_unnamed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_core()
    unnamed, unnamed_state = _modify_run(monkeypatch, "none")
    named, named_state = _modify_run(monkeypatch, "token")
    assert named.answers == unnamed.answers
    assert {ie_value(decode(a), T.CAUSE) for a in named.answers} == {1}
    assert named.journal.records == unnamed.journal.records
    assert named.descriptors == unnamed.descriptors
    assert len(named_state) == 35 and named_state == unnamed_state
    # The modifications' programs: (SEID, token) of each install after the establishments.
    modified = [(seid, p.token) for seid, p in named.installed[35:]]
    assert len(modified) == 10 * 35
    with_token = sum(1 for _, token in modified if token is not None)
    assert with_token > 200
    # (installed through the shape the datapath keeps by the token)
    assert named.patched - named.established > 100
    lengths = {p.ue_ip.prefixlen for _, prog in named.installed for p in prog.pdrs if p.ue_ip}
    assert {32, 64} <= lengths


def test_a_modified_shape_token_shared_across_shapes_is_seen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check above catches a modification token that names programs of two shapes (a
    planted bug: one token for the programs a FAR update makes with as many PDRs, the
    same FARs creating an outer header and a BAR or none)."""
    require_core()
    unnamed, unnamed_state = _modify_run(monkeypatch, "none")
    shared: dict[tuple[object, ...], object] = {}

    def planted(self: SessionEngine, program: SessionProgram, *args: Any) -> SessionProgram:
        like = (
            len(program.pdrs),
            tuple(f.outer_header_creation is None for f in program.fars),
            program.bar is None,
        )
        token = shared.setdefault(like, object())
        return SessionProgram(
            program.pdrs, program.fars, program.qers, program.urrs, program.bar, token
        )

    monkeypatch.setattr(SessionEngine, "_modified_shape", planted)
    planted_run, planted_state = _modify_run(monkeypatch, "token")
    assert planted_run.descriptors != unnamed.descriptors
    assert planted_state != unnamed_state


def test_far_updates_of_a_known_layout_make_no_shape_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """From the second FAR update of a layout on, the modification's program carries its
    token: the datapath makes no `_shape_key` for it. A structure change (the FAR
    buffering) is installed by its key, and the FAR updates after it get another token."""
    require_core()
    keys: list[int] = []
    real = local_engine._shape_key

    def counted(program: SessionProgram) -> object:
        keys[-1] += 1
        return real(program)

    monkeypatch.setattr(local_engine, "_shape_key", counted)
    lo = ipaddress.ip_address("127.0.0.1")
    pools = {"internet": (ipaddress.ip_network("10.45.0.0/24"),)}
    settings = EngineSettings(n3_address=lo, pfcp_address=lo, ue_pools=pools)
    dp = LocalDatapath(expected_sessions=16)
    engine = SessionEngine(settings, dp, MemoryJournal())
    tokens: list[object] = []
    install = dp.install

    def recorded(seid: int, program: SessionProgram, **kwargs: bool) -> None:
        tokens.append(program.token)
        install(seid, program, **kwargs)

    dp.install = recorded  # type: ignore[method-assign]
    seq = 0

    def handle(msg: Any) -> None:
        nonlocal seq
        seq += 1
        msg.seq = seq
        keys.append(0)
        answer = engine.handle_request(decode(encode(msg)), PEER, NODE, 0.0)
        engine.commit()
        assert ie_value(answer, T.CAUSE) == 1

    try:
        for n in range(4):
            handle(R.establishment_request("smf", "127.0.0.1", n + 1, R.session_rules()))
        seids = sorted(engine.sessions)
        del keys[:], tokens[:]
        for i, seid in enumerate(seids):
            handle(R.modification_request(seid, [R.update_dl_far(2, 0x900 + i, "192.0.2.7")]))
        for seid in seids[:2]:
            handle(R.modification_request(seid, [_buffer()]))
        for i, seid in enumerate(seids[:2]):
            handle(R.modification_request(seid, [R.update_dl_far(2, 0xA00 + i, "192.0.2.8")]))
    finally:
        dp.close()
    # (the first update of the layout the long way, then by the update's shape)
    assert keys == [1, 0, 0, 0, 1, 1, 1, 0]
    assert tokens[0] is None and tokens[1] is tokens[2] is tokens[3] is not None
    assert tokens[4] is tokens[5] is None  # (buffering: the long way, no token)
    assert tokens[7] is not None and tokens[7] is not tokens[1]
