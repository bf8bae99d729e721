"""Establishments by shape (`ShapeMemos.establishments`, `SessionEngine._fill`): from the
third request of a shape on, the engine only takes the allocations and fills them in. The
bar: every answer, journal record and installed program is what the engine makes of the
same requests without the shapes, for shapes of every kind of PDR (CHOOSE F-TEID shared by
CHOOSE ID, IPv4, IPv6, dual-stack, an F-TEID or UE address the CP gave), with FQ-CSIDs and
Group Id, a buffering BAR, an Application ID (never kept), and pools running out."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from datapath.conftest import require_core
from datapath.descriptor_recorder import DescriptorRecorder
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw, raw

from pfcpd.datapath.interface import DatapathError, IPNetwork, SessionProgram
from pfcpd.datapath.local import engine as local_engine
from pfcpd.datapath.local.engine import LocalDatapath, with_slots
from pfcpd.node.session_handler import Peer
from pfcpd.pfcp import IE, Grouped, IEType, Message, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp.ie import RawIE
from pfcpd.pfcp.ies_traffic import FailedRuleID
from pfcpd.session import EngineSettings, MemoryJournal, SessionEngine, establishment
from pfcpd.session.allocation import Exhausted
from pfcpd.session.rules import ie_value
from pfcpd.smfsim import rules as R

T = IEType
PEER, NODE = Peer("smf", ("127.0.0.1", 8805)), A.NodeID.from_text("127.0.0.1")


class _Run:
    """An engine on the local datapath, with what it answered, journaled and installed."""

    def __init__(self, pools: dict[str, tuple[IPNetwork, ...]] | None = None) -> None:
        lo = ipaddress.ip_address("127.0.0.1")
        pools = pools or {
            "internet": (
                ipaddress.ip_network("10.45.0.0/27"),  # (30 addresses: runs out)
                ipaddress.ip_network("2001:db8:45::/60"),
            ),
            "ims": (ipaddress.ip_network("10.46.0.0/24"),),
        }
        settings = EngineSettings(n3_address=lo, pfcp_address=lo, ue_pools=pools)
        self.dp = LocalDatapath(expected_sessions=64)
        self.journal = MemoryJournal()
        self.engine = SessionEngine(settings, self.dp, self.journal, ntp_clock=lambda: 3.9e9)
        self.installed: list[tuple[int, SessionProgram]] = []
        self.answers: list[bytes] = []
        self.filled = 0
        self.shaped = 0  # (installs from the session's own values: `install_shaped`)
        install, fill = self.dp.install, self.engine._fill
        install_shaped = self.dp.install_shaped

        def recorded(seid: int, program: SessionProgram, **kwargs: bool) -> None:
            self.installed.append((seid, program))
            install(seid, program, **kwargs)

        def recorded_shaped(seid: int, token: object, *values: Any) -> bool:
            """An install from own values, recorded as the program they stand for."""
            shape = self.dp._shapes.get(token)
            if not install_shaped(seid, token, *values):
                return False
            assert shape is not None
            self.installed.append((seid, with_slots(shape.program, *values)))
            self.shaped += 1
            return True

        def counted(*args: object) -> object:
            self.filled += 1
            return fill(*args)  # type: ignore[arg-type]

        self.dp.install = recorded  # type: ignore[method-assign]
        self.dp.install_shaped = recorded_shaped  # type: ignore[method-assign]
        self.engine._fill = counted  # type: ignore[assignment,method-assign]

    def handle(self, req: Message) -> Message:
        answer = self.engine.handle_request(decode(encode(req)), PEER, NODE, 0.0)
        self.engine.commit()
        self.answers.append(encode(answer))
        return answer

    def pfds(self) -> None:
        req = R.pfd_management_request("app1", ["permit out 6 from any to any 443"])
        assert ie_value(self.engine.handle_pfd_management(req, 0.0), T.CAUSE) == 1
        self.engine.commit()

    def close(self) -> None:
        self.dp.close()


def _given_ue_pdr() -> Grouped:
    """An uplink PDR whose F-TEID the UPF chooses and whose UE address the CP gave."""
    pdr = R.ul_pdr()
    pdi = pdr.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies = [
        A.UEIPAddress(ipv4="10.99.0.1", source=True) if c.type == T.UE_IP_ADDRESS else c
        for c in pdi.ies
    ]
    return pdr


def _given_fteid_pdr() -> Grouped:
    """An uplink PDR with an F-TEID the CP gave and a UE address the UPF chooses: refused
    every time (71, TS 29.244 5.5.1: the UP function allocates F-TEIDs), no shape learnt."""
    pdr = R.ul_pdr()
    pdi = pdr.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies = [A.FTEID(teid=0x7000, ipv4="127.0.0.1") if c.type == T.F_TEID else c for c in pdi.ies]
    return pdr


def _own_fteids() -> list[IE]:
    """Two uplink PDRs, each with an F-TEID of its own (CHOOSE without CHOOSE ID)."""
    rules = R.session_rules()
    second = R.ul_pdr(pdr_id=3)
    for pdr in (rules[0], second):
        pdi = pdr.get(T.PDI)
        assert isinstance(pdi, Grouped)
        pdi.ies = [
            A.FTEID(choose=True, choose_v4=True) if c.type == T.F_TEID else c for c in pdi.ies
        ]
    return [rules[0], second, *rules[1:]]


def _ch_any_version() -> list[IE]:
    """The uplink F-TEID with CH and neither V4 nor V6 (the UP function picks the version:
    TS 29.244 8.2.3), shared by CHOOSE ID with a second uplink PDR."""
    rules = R.session_rules()
    second = R.ul_pdr(pdr_id=3)
    for pdr in (rules[0], second):
        pdi = pdr.get(T.PDI)
        assert isinstance(pdi, Grouped)
        pdi.ies = [A.FTEID(choose=True, choose_id=5) if c.type == T.F_TEID else c for c in pdi.ies]
    return [rules[0], second, *rules[1:]]


def _buffering() -> list[IE]:
    rules = R.session_rules(gnb=None)
    far = rules[3]
    assert isinstance(far, Grouped)
    far.ies.append(S.BARID(1))
    return [*rules, R.group(T.CREATE_BAR, S.BARID(1), S.DownlinkDataNotificationDelay(3))]


def _two_pools(n: int) -> list[IE]:
    """Dual stack (CHV4 and CHV6) with two UE IP address Pool Identities, IPv4 first:
    "ims" (IPv4 pools only) for the address, "internet" for the IPv6 prefix."""
    rules = R.session_rules(dual_stack=True, gnb_teid=0x100 + n)
    for pdr in rules[:2]:
        assert isinstance(pdr, Grouped)
        pdr.ies += [X.UEIPAddressPoolIdentity("ims"), X.UEIPAddressPoolIdentity("internet")]
    return rules


def _ims() -> list[IE]:
    return [
        R.ul_pdr(network_instance="ims"),
        R.dl_pdr(network_instance="ims"),
        *R.session_rules()[2:],
    ]


def _with_sets(n: int) -> list[IE]:
    """FQ-CSIDs and Group Id (two of each, by turns: two shapes), and a User ID of its own
    (no part of a shape)."""
    csid = A.FQCSID(node_address="192.0.2.1", csids=(7 + n % 2,), node_type=0)
    user = RawIE(T.USER_ID, b"\x01\x08" + bytes.fromhex(f"{n:016d}"))  # (IMSIF, the IMSI)
    return [*R.session_rules(mbr_kbps=(1000, 2000)), csid, X.GroupID(f"g{n % 2}"), user]


def _leaf_moved(n: int) -> list[IE]:
    """A User ID (no part of a shape) before the rule groups one time, after them the next:
    the groups of one shape at other positions in the request."""
    user = RawIE(T.USER_ID, b"\x01\x08" + bytes.fromhex(f"{n:016d}"))
    rules = R.session_rules(gnb_teid=0x200 + n)
    return [user, *rules] if n % 2 else [*rules, user]


def _application() -> list[IE]:
    rules = R.session_rules()
    return [*rules, R.application_dl_pdr(4, 2, "app1")]


# Shape name -> the rules of its n-th request (the gNB's TEID differs from one to the next)
SHAPES: dict[str, Callable[[int], list[IE]]] = {
    "usual": lambda n: R.session_rules(gnb_teid=0x100 + n),
    "v6": lambda n: R.session_rules(v6=True, gnb_teid=0x100 + n),
    "dual_stack": lambda n: R.session_rules(dual_stack=True, gnb_teid=0x100 + n),
    "two_pools": _two_pools,
    "ims": lambda n: _ims(),
    "own_fteids": lambda n: _own_fteids(),
    "ch_any_version": lambda n: _ch_any_version(),
    "given_ue": lambda n: [_given_ue_pdr(), *R.session_rules()[1:]],
    "given_fteid": lambda n: [_given_fteid_pdr(), *R.session_rules()[1:]],
    "buffering": lambda n: _buffering(),
    "sets": _with_sets,
    "leaf_moved": _leaf_moved,
    "application": lambda n: _application(),
}
# The shapes `SessionEngine._fill` fills in from a `FillPlan` (no IE encoded): every F-TEID
# and UE IP Address to fill in of the usual kinds (CH with V4 or neither; CHV4 alone), none
# the CP gave.
PLANNED = {"usual", "ims", "own_fteids", "ch_any_version", "buffering", "sets", "leaf_moved"}


def _script() -> Iterator[Message]:
    """Every shape five times, interleaved (the gNB TEIDs of some differ every time), then
    modifications, deletions and more of the IPv4 pool's shapes after it ran out (30
    addresses)."""
    seq = 0
    for _ in range(5):
        for make in SHAPES.values():
            seq += 1
            yield R.establishment_request("smf", "127.0.0.1", seq, make(seq), seq=seq)
    for up_seid in range(5, 45, 3):  # (a new gNB tunnel with an End Marker)
        seq += 1
        far = R.update_dl_far(2, 0x9000 + up_seid, "192.0.2.10", end_marker=True)
        yield R.modification_request(up_seid, [far], seq=seq)
    for up_seid in (1, 2, 3, 4):
        seq += 1
        yield R.deletion_request(up_seid, seq=seq)
    for _ in range(3):
        for name in ("usual", "dual_stack", "sets", "leaf_moved"):
            seq += 1
            yield R.establishment_request("smf", "127.0.0.1", seq, SHAPES[name](seq), seq=seq)


def _run(monkeypatch: pytest.MonkeyPatch, shapes: bool) -> _Run:
    with monkeypatch.context() as m:
        if not shapes:
            m.setattr(establishment, "establishment_key", lambda request: None)
        run = _Run()
        try:
            run.pfds()
            for req in _script():
                run.handle(req)
        finally:
            run.close()
    return run


def test_shaped_establishments_answer_journal_and_install_what_the_long_way_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_core()
    long_way = _run(monkeypatch, shapes=False)
    shaped = _run(monkeypatch, shapes=True)
    assert long_way.filled == 0
    # Each shape but the Application ID's three times, and the last three rounds.
    assert shaped.filled >= 3 * (len(SHAPES) - 1)
    assert shaped.answers == long_way.answers
    assert shaped.journal.records == long_way.journal.records
    assert shaped.installed == long_way.installed
    causes = [ie_value(decode(a), T.CAUSE) for a in shaped.answers]
    assert causes.count(1) > 30 and 79 in causes  # (accepted; the IPv4 pool ran out)
    # What is held is the same: TEIDs and UE addresses in use.
    assert shaped.engine._allocations_in_use() == long_way.engine._allocations_in_use()


def test_a_shape_with_ipv4_and_ipv6_pool_identities_takes_each_from_its_pool() -> None:
    """TS 29.244 Table 7.5.2.2-1 (Create PDR), UE IP address Pool Identity: two of them
    when the UE IPv4 address and IPv6 prefix come from different pools, "the UE IPv4
    Address Pool Identity shall be encoded before the UE IPv6 Address Pool Identity".
    Requests of that shape, filled in from the shape from the third on: each session's
    address comes from the first identity's pools and its prefix from the second's, both
    PDRs' Created PDRs carrying them, and no two sessions share either."""
    require_core()
    run = _Run()
    try:
        got = []
        for seq in range(1, 6):
            req = R.establishment_request("smf", "127.0.0.1", seq, _two_pools(seq), seq=seq)
            answer = run.handle(req)
            assert ie_value(answer, T.CAUSE) == 1, answer
            ues = []
            for created in answer.get_all(T.CREATED_PDR):
                assert isinstance(created, Grouped)
                ue = created.get(T.UE_IP_ADDRESS)
                assert isinstance(ue, A.UEIPAddress) and ue.ipv4 and ue.ipv6
                ues.append((ue.ipv4, ue.ipv6))
            assert len(ues) == 2 and ues[0] == ues[1]
            v4, v6 = ues[0]
            assert ipaddress.ip_address(v4) in ipaddress.ip_network("10.46.0.0/24")
            assert ipaddress.ip_address(v6) in ipaddress.ip_network("2001:db8:45::/60")
            got.append(ues[0])
        assert run.filled == 3
        assert len({v4 for v4, _ in got}) == len({v6 for _, v6 in got}) == 5
    finally:
        run.close()


def test_an_application_id_shape_is_never_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    require_core()
    run = _Run()
    try:
        run.pfds()
        for seq in range(1, 5):
            req = R.establishment_request("smf", "127.0.0.1", seq, _application(), seq=seq)
            assert ie_value(run.handle(req), T.CAUSE) == 1
    finally:
        run.close()
    assert run.filled == 0 and not run.engine.memos.establishments


def test_a_shape_is_kept_the_second_time_and_dropped_with_the_caches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_core()
    run = _Run()
    try:
        for seq in range(1, 4):
            req = R.establishment_request("smf", "127.0.0.1", seq, R.session_rules(), seq=seq)
            assert ie_value(run.handle(req), T.CAUSE) == 1
            assert len(run.engine.memos.establishments) == (seq >= 2)
        assert run.filled == 1
        run.engine.drop_caches()
        assert not run.engine.memos.establishments and not run.engine.memos.seen
    finally:
        run.close()


def test_a_shaped_request_refused_for_want_of_teids_takes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The TEIDs run out while a shaped request's PDRs are filled in: the answer is the
    long way's (75, Offending IE F-TEID) and what it took before is given back."""
    require_core()
    run = _Run()
    try:
        for seq in range(1, 4):
            req = R.establishment_request("smf", "127.0.0.1", seq, _own_fteids(), seq=seq)
            assert ie_value(run.handle(req), T.CAUSE) == 1
        before = run.engine._allocations_in_use()
        teids = run.engine.teids
        real, calls = teids.take, []

        def take() -> int:
            calls.append(1)
            if len(calls) > 1:  # (the second PDR's F-TEID: none left)
                raise Exhausted
            return real()

        monkeypatch.setattr(teids, "take", take)
        req = R.establishment_request("smf", "127.0.0.1", 9, _own_fteids(), seq=9)
        answer = run.handle(req)
        assert run.filled == 2 and len(calls) == 2
    finally:
        run.close()
    assert ie_value(answer, T.CAUSE) == 75
    assert ie_value(answer, T.OFFENDING_IE) == T.F_TEID
    assert run.engine._allocations_in_use() == before


# (given_fteid: its requests name an F-TEID the CP gave, refused every time)
@pytest.mark.parametrize("name", sorted(set(SHAPES) - {"application", "given_fteid"}))
def test_the_usual_shapes_have_a_fill_plan(name: str) -> None:
    """A shape whose F-TEIDs and UE addresses are all of the usual kinds is filled in from
    its `FillPlan` (which `_shape_of` keeps only when it gives back the session it was
    learnt from: a plan that makes anything else is dropped, and this fails)."""
    require_core()
    run = _Run()
    try:
        for seq in range(1, 6):  # ("sets": two shapes by turns)
            req = R.establishment_request("smf", "127.0.0.1", seq, SHAPES[name](seq), seq=seq)
            assert ie_value(run.handle(req), T.CAUSE) == 1
    finally:
        run.close()
    shapes = run.engine.memos.establishments.values()
    assert run.filled >= 1 and shapes
    assert all((shape.fill is not None) == (name in PLANNED) for shape in shapes)


def test_a_shaped_request_the_datapath_refuses_takes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The datapath refuses a session filled in from a `FillPlan`, naming a rule: the answer
    is 73 with its Failed Rule ID (TS 29.244 Table 7.5.3.1-1) and its TEID and UE address
    are given back (the next request gets them)."""
    require_core()
    run = _Run()
    try:
        for seq in range(1, 4):
            req = R.establishment_request("smf", "127.0.0.1", seq, R.session_rules(), seq=seq)
            assert ie_value(run.handle(req), T.CAUSE) == 1
        before = run.engine._allocations_in_use()
        teids_before = run.engine.teids.in_use

        def refuse(seid: int, program: SessionProgram, **kwargs: bool) -> None:
            raise DatapathError("PDR 1: no room", (0, 1))

        with monkeypatch.context() as m:
            m.setattr(run.dp, "install", refuse)
            req = R.establishment_request("smf", "127.0.0.1", 9, R.session_rules(), seq=9)
            answer = run.handle(req)
        assert run.filled == 2
        assert ie_value(answer, T.CAUSE) == 73
        assert answer.get(T.FAILED_RULE_ID) == FailedRuleID(0, 1)
        assert run.engine._allocations_in_use() == before
        assert run.engine.teids.in_use == teids_before
    finally:
        run.close()


def test_a_failed_commit_of_shaped_requests_gives_back_what_they_took() -> None:
    """The journal fails to make a batch of requests filled in from a `FillPlan` durable:
    each is answered 77 and their TEIDs and UE addresses are given back."""
    require_core()
    run = _Run()
    try:
        for seq in range(1, 4):
            req = R.establishment_request("smf", "127.0.0.1", seq, _own_fteids(), seq=seq)
            assert ie_value(run.handle(req), T.CAUSE) == 1
        before = run.engine._allocations_in_use()
        teids_before = run.engine.teids.in_use
        engine = run.engine
        answers = [
            engine.handle_request(
                decode(
                    encode(R.establishment_request("smf", "127.0.0.1", s, _own_fteids(), seq=s))
                ),
                PEER,
                NODE,
                0.0,
            )
            for s in (10, 11)
        ]
        assert [ie_value(a, T.CAUSE) for a in answers] == [1, 1]
        run.journal.fail_next = 1
        swapped = engine.commit()
        assert [ie_value(new, T.CAUSE) for _, new in swapped] == [77, 77]
        assert run.filled == 3
        assert engine._allocations_in_use() == before and engine.teids.in_use == teids_before
    finally:
        run.close()


# -- the programs' token (`SessionProgram.token`) ------------------------------------------


def _probe(dp: LocalDatapath, program: SessionProgram) -> list[object]:
    """A packet to each PDR's F-TEID and one to each PDR's UE address; their results."""
    out: list[object] = []
    now = 1_000
    for p in program.pdrs:
        ue = p.ue_ip.network_address if p.ue_ip is not None else ipaddress.ip_address("10.9.9.9")
        if ue.version == 4:
            inner = IP(src=str(ue), dst="198.51.100.1") / UDP() / Raw(b"ul")
            dl = IP(src="198.51.100.1", dst=str(ue)) / UDP() / Raw(b"dl")
        else:
            inner = IPv6(src=str(ue), dst="2001:db8::9") / UDP() / Raw(b"ul")
            dl = IPv6(src="2001:db8::9", dst=str(ue)) / UDP() / Raw(b"dl")
        if p.local_fteid is not None:
            local, teid = p.local_fteid
            gtp = GTP_U_Header(teid=teid, gtp_type=255) / GTPPDUSessionContainer(type=1, QFI=9)
            out.append(dp.process_ul_gtpu(local, raw(gtp / inner), now_ns=now))
        if p.ue_ip is not None:
            out.append(dp.process_dl(raw(dl), p.network_instance, now_ns=now + 1))
        now += 10
    return out


# IPv6 pools of two prefix lengths in one instance: the sessions of one shape get /64
# prefixes, then /128 addresses once the first pool has run out (`_fill_each` hands those
# no token), then /64 again as sessions go.
_TOKEN_POOLS: dict[str, tuple[IPNetwork, ...]] = {
    "internet": (
        ipaddress.ip_network("10.45.0.0/22"),
        ipaddress.ip_network("2001:db8:45::/62"),
        ipaddress.ip_network("2001:db8:46::/120"),
    ),
    "ims": (ipaddress.ip_network("10.46.0.0/24"),),
}


class _TokenRun(_Run):
    """A `_Run` of many establishments of every shape: the descriptor each install handed
    the library, how many programs carried a token, then what the datapath keeps of each
    session left, its packets' results, events, buffered count and final usage. ``mode``:
    "token" (the programs as the engine makes them), "none" (their tokens taken off),
    "shared" (a planted bug: the shapes whose programs have as many PDRs and FARs, the same
    FARs creating an outer header and a BAR or none, share one token)."""

    def __init__(self, mode: str) -> None:
        super().__init__(_TOKEN_POOLS)
        dp = self.dp
        self.descriptors = DescriptorRecorder(dp).descriptors
        self.tokens = self.patched = 0
        packed, install = dp._packed, dp.install
        shared: dict[tuple[object, ...], object] = {}

        def spied(program: SessionProgram, sess: int, seid: int) -> tuple[object, ...]:
            if program.token is not None and program.token in dp._shapes:
                self.patched += 1  # (through the shape kept by its token)
            return packed(program, sess, seid)

        def retokened(seid: int, program: SessionProgram, **kwargs: bool) -> None:
            if program.token is not None:
                self.tokens += 1
                if mode == "none":
                    program = dataclasses.replace(program, token=None)
                elif mode == "shared":
                    like = (
                        len(program.pdrs),
                        tuple(f.outer_header_creation is None for f in program.fars),
                        program.bar is None,
                    )
                    token = shared.setdefault(like, program.token)
                    program = dataclasses.replace(program, token=token)
            install(seid, program, **kwargs)

        dp._packed = spied  # type: ignore[method-assign,assignment]
        dp.install = retokened  # type: ignore[method-assign]

    def script(self, m: pytest.MonkeyPatch) -> None:
        """Twelve rounds of every shape (once each, or twice in a row), each deleting the
        sessions of the round two before; the engine's shape memos dropped before the
        fifth (new shapes, new tokens), the datapath's shapes emptied as they come during
        the eighth and ninth (they hold 4)."""
        self.pfds()
        seq = 0
        rounds: list[list[int]] = []
        for n in range(12):
            if n == 5:
                self.engine.drop_caches()
            m.setattr(local_engine, "SHAPE_ENTRIES", 4 if n in (8, 9) else 256)
            made: list[int] = []
            for make in SHAPES.values():
                for _ in range(1 + n % 2):
                    seq += 1
                    answer = self.handle(
                        R.establishment_request("smf", "127.0.0.1", seq, make(seq), seq=seq)
                    )
                    if ie_value(answer, T.CAUSE) == 1:
                        fseid = answer.get(T.F_SEID)
                        assert isinstance(fseid, A.FSEID)
                        made.append(fseid.seid)
            rounds.append(made)
            if n >= 2:
                for up_seid in rounds[n - 2]:
                    seq += 1
                    self.handle(R.deletion_request(up_seid, seq=seq))

    def state(self) -> list[object]:
        """What the datapath keeps of each session left and how it behaves (each removed
        in turn)."""
        dp = self.dp
        last = dict(self.installed)
        out: list[object] = []
        for seid in sorted(dp._programs):
            program = last[seid]
            kept = (dp._programs[seid], seid in dp._ticking)
            results = _probe(dp, program)
            out.append((seid, kept, results, dp.poll_events(), dp.buffered(seid), dp.remove(seid)))
        return out


def _token_run(monkeypatch: pytest.MonkeyPatch, mode: str) -> tuple[_TokenRun, list[object]]:
    with monkeypatch.context() as m:
        run = _TokenRun(mode)
        try:
            run.script(m)
            return run, run.state()
        finally:
            run.close()


def test_programs_named_by_their_shape_install_what_they_do_unnamed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The datapath keys the shapes it keeps by the programs' tokens: every descriptor it
    hands the library, what it keeps of each session and how the sessions behave are what
    it makes of the same programs without their tokens (keyed by `_shape_key`); through
    the engine's shape memos dropped, the datapath's shapes emptied, requests of a shape
    refused every time (given_fteid: the CP's F-TEID) and UE prefixes of two lengths."""
    require_core()
    unnamed, unnamed_state = _token_run(monkeypatch, "none")
    named, named_state = _token_run(monkeypatch, "token")
    assert named.tokens + named.shaped == unnamed.tokens and unnamed.tokens > 100
    assert named.patched + named.shaped > 50 and unnamed.patched == unnamed.shaped == 0
    assert named.shaped > 30  # (from the sessions' own values: `install_shaped`)
    assert named.answers == unnamed.answers
    causes = [ie_value(decode(a), T.CAUSE) for a in named.answers]
    assert causes.count(71) >= 5  # (given_fteid: the CP gave its F-TEID)
    assert named.descriptors == unnamed.descriptors
    assert len(named_state) >= 15 and named_state == unnamed_state
    lengths = {p.ue_ip.prefixlen for _, prog in named.installed for p in prog.pdrs if p.ue_ip}
    assert {32, 64, 128} <= lengths


def test_a_token_shared_by_two_shapes_is_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above catches a token that names two shapes (a planted bug)."""
    require_core()
    _, unnamed_state = _token_run(monkeypatch, "none")
    shared, shared_state = _token_run(monkeypatch, "shared")
    assert shared.tokens > 60
    assert shared_state != unnamed_state


def test_a_shape_dropped_with_the_caches_gets_a_new_token() -> None:
    require_core()
    run = _Run()
    tokens: list[object] = []
    try:
        for seq in range(1, 9):
            if seq == 5:
                run.engine.drop_caches()
            req = R.establishment_request("smf", "127.0.0.1", seq, R.session_rules(), seq=seq)
            assert ie_value(run.handle(req), T.CAUSE) == 1
            tokens.append(run.installed[-1][1].token)
    finally:
        run.close()
    # (the long way twice, then the shape's; after the drop, twice more the long way)
    assert tokens[:2] == [None, None] and tokens[4:6] == [None, None]
    assert tokens[2] is tokens[3] is not None and tokens[6] is tokens[7] is not None
    assert tokens[2] is not tokens[6]
