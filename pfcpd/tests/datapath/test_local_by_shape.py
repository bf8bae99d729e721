"""Sessions installed through kept descriptors (a program's shape seen before: only what
differs between sessions packed over the last one's, one library call with its arguments in
a block) end up as each does installed alone on a fresh datapath, the long way: the same
descriptor handed to the library, what the datapath keeps, and the same behaviour of the C
core's tables (packets to every F-TEID and UE address, usage, removal). Programs of many
forms: IPv4 and IPv6 UEs and N3 addresses, a dual-stack UE, PDRs sharing an F-TEID address
around one without, several GTP-U FARs, QERs, URRs with time quotas, a BAR, network
instances, duplicating FARs (never kept)."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Iterator

import pytest
from conftest import require_core
from descriptor_recorder import DescriptorRecorder
from dp_programs import (
    DN,
    N3_GNB,
    N3_GNB6,
    N3_UPF,
    N3_UPF6,
    QFI,
    UE6,
    basic_program,
    duplicating_program,
    ims_program,
)
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw, raw

from pfcpd.datapath.interface import (
    ApplyAction,
    Bar,
    DatapathError,
    Far,
    Interface,
    IPAddress,
    Pdr,
    Qer,
    SessionProgram,
    Urr,
)
from pfcpd.datapath.local import corelib
from pfcpd.datapath.local.engine import LocalDatapath, PacketResult, _shape_key
from pfcpd.session.shapes import ShapeToken

EVERY_FAR = frozenset(range(256))  # (end markers asked for every FAR of these programs)


@pytest.fixture
def fresh() -> Iterator[Callable[[], LocalDatapath]]:
    require_core()
    made: list[LocalDatapath] = []

    def make() -> LocalDatapath:
        made.append(LocalDatapath(expected_sessions=64, clock=lambda: 2_000))  # (events' times)
        return made[-1]

    yield make
    for dp in made:
        dp.close()


# -- the programs: bases, and each base as session i of its shape has it -------------------


def _net(addr: IPAddress) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(f"{addr}/{addr.max_prefixlen}")


def _shared_fteid_program() -> SessionProgram:
    """basic_program with a third PDR on the UL F-TEID's address (another TEID) after the DL
    PDR (no F-TEID), and a dual-stack UE: the DL PDR on the IPv6 prefix."""
    base = basic_program()
    ul, dl = base.pdrs
    assert ul.local_fteid is not None
    third = dataclasses.replace(ul, pdr_id=3, precedence=50, local_fteid=(N3_UPF, 0x300))
    dl6 = dataclasses.replace(dl, pdr_id=2 | 0x8000, ue_ip=ipaddress.ip_network("fd00:45::/64"))
    return dataclasses.replace(base, pdrs=(ul, dl, dl6, third))


def _buffering_program() -> SessionProgram:
    """A DL FAR buffering (BUFF|NOCP), a BAR, a URR with a time quota (ticking), a QER
    policing, two URRs on the UL PDR."""
    base = basic_program(
        dl_action=ApplyAction.BUFF | ApplyAction.NOCP,
        qer=Qer(qer_id=1, qfi=QFI, mbr_ul=10**6, mbr_dl=2 * 10**6, burst_bytes=4000),
        urr=Urr(urr_id=1, time_quota_ns=10**12, volume_threshold=(10**6, 0, 0)),
    )
    ul, dl = base.pdrs
    return dataclasses.replace(
        base,
        pdrs=(dataclasses.replace(ul, urr_ids=(1, 2)), dl),
        urrs=(*base.urrs, Urr(urr_id=2, volume_quota=(0, 10**7, 0))),
        bar=Bar(bar_id=1, max_packets=4),
    )


def _two_tunnels_program() -> SessionProgram:
    """basic_program (IPv6 UE and N3) with a second GTP-U FAR (N9-like, another peer, no
    PDU session container) and a PDR for it with a QFI."""
    base = basic_program(ue=UE6, n3_upf=N3_UPF6, n3_gnb=N3_GNB6, dscp=None)
    n9 = Far(
        far_id=3,
        apply_action=ApplyAction.FORW,
        destination_interface=Interface.CORE,
        outer_header_creation=(N3_GNB6, 0x3000),
        ohc_source=N3_UPF6,
        pdu_session_container=False,
    )
    ul, dl = base.pdrs
    pdr = dataclasses.replace(ul, pdr_id=4, precedence=10, far_id=3, qfi=QFI, qer_ids=())
    return dataclasses.replace(base, pdrs=(ul, dl, pdr), fars=(*base.fars, n9))


BASES: dict[str, Callable[[], SessionProgram]] = {
    "basic": basic_program,
    "ipv6": lambda: basic_program(ue=UE6, n3_upf=N3_UPF6, n3_gnb=N3_GNB6),
    "v6 ue v4 n3": lambda: basic_program(ue=UE6),
    "shared fteid": _shared_fteid_program,
    "buffering": _buffering_program,
    "two tunnels": _two_tunnels_program,
    "ims": ims_program,
    "duplicating": duplicating_program,
}


def _session(base: SessionProgram, n: int, i: int) -> SessionProgram:
    """``base`` (shape ``n``) as session ``i`` has it: its own TEIDs, UE addresses (of the
    family and prefix length of the base's), gNB peers and TEIDs, BAR; its F-TEID address
    IPv4 or IPv6 (a shared object: the engine hands out one); the other rules the same
    objects."""
    tag = (n << 8) + i
    local = N3_UPF if i % 2 else N3_UPF6
    ues: dict[object, object] = {}

    def ue(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> object:
        if net not in ues:
            if net.version == 4:
                addr: IPAddress = ipaddress.IPv4Address((10 << 24) + (tag << 8) + len(ues))
            else:
                addr = ipaddress.IPv6Address((0xFD10 << 112) + (tag << 72) + (len(ues) << 64))
            ues[net] = ipaddress.ip_network(f"{addr}/{net.prefixlen}", strict=False)
        return ues[net]

    def pdr(p: Pdr) -> Pdr:
        fteid = None if p.local_fteid is None else (local, (tag << 8) + (p.local_fteid[1] >> 8))
        return dataclasses.replace(
            p, local_fteid=fteid, ue_ip=None if p.ue_ip is None else ue(p.ue_ip)
        )

    def far(f: Far) -> Far:
        if f.outer_header_creation is None:
            return f
        if i % 3 == 0:  # (a shared object)
            peer: IPAddress = N3_GNB if local.version == 4 else N3_GNB6
        elif local.version == 4:
            peer = ipaddress.IPv4Address(f"10.200.{n}.{i}")
        else:
            peer = ipaddress.IPv6Address(f"fd00:200::{n}:{i}")
        return dataclasses.replace(
            f, outer_header_creation=(peer, (tag << 12) + f.far_id), ohc_source=local
        )

    bar = base.bar
    if bar is not None:
        bar = Bar(bar.bar_id, max_packets=i, max_bytes=100 * i, duration_ns=(i % 2) * 10**9)
    return dataclasses.replace(
        base, pdrs=tuple(map(pdr, base.pdrs)), fars=tuple(map(far, base.fars)), bar=bar
    )


# -- what a datapath does with a session --------------------------------------------------


def _probe(dp: LocalDatapath, program: SessionProgram) -> list[PacketResult]:
    """A packet to each PDR's F-TEID (from its UE address, or any) and to each PDR's UE
    address, in the PDR's network instance."""
    out: list[PacketResult] = []
    now = 1_000
    for p in program.pdrs:
        ue = p.ue_ip.network_address if p.ue_ip is not None else ipaddress.IPv4Address("10.9.9.9")
        inner = (
            IP(src=str(ue), dst=str(DN))
            if ue.version == 4
            else IPv6(src=str(ue), dst="2001:db8::9")
        )
        if p.local_fteid is not None:
            local, teid = p.local_fteid
            gtp = GTP_U_Header(teid=teid, gtp_type=255) / GTPPDUSessionContainer(type=1, QFI=QFI)
            message = raw(gtp / inner / UDP() / Raw(b"ul"))
            out.append(dp.process_ul_gtpu(local, message, now_ns=now))
        if p.ue_ip is not None:
            dl = (
                IP(src=str(DN), dst=str(ue))
                if ue.version == 4
                else IPv6(src="2001:db8::9", dst=str(ue))
            )
            out.append(
                dp.process_dl(raw(dl / UDP() / Raw(b"dl")), p.network_instance, now_ns=now + 1)
            )
        now += 10
    return out


def _state(dp: LocalDatapath, seid: int, program: SessionProgram) -> tuple[object, ...]:
    """What ``dp`` keeps of session ``seid``, its packets' results, the events and buffered
    count they made, then its final usage."""
    kept = (dp._programs[seid], seid in dp._ticking)
    results = _probe(dp, program)
    assert {r.seid for r in results} == {seid}  # (each packet found the session)
    events = dp.poll_events()
    return kept, results, events, dp.buffered(seid), dp.remove(seid)


@pytest.mark.parametrize("named", [False, True], ids=["by key", "by token"])
def test_sessions_by_shape_installed_as_alone(
    fresh: Callable[[], LocalDatapath], named: bool
) -> None:
    """``named``: the programs of each shape carry a token of their own (as the session
    engine names them, `SessionProgram.token`): kept by it, not by `_shape_key`."""
    shared = fresh()
    spy = DescriptorRecorder(shared)
    programs: dict[int, SessionProgram] = {}
    order = [
        (n, i) for i in range(6) for n in range(len(BASES))
    ]  # (every shape in turn: the kept descriptors interleaved)
    order += [(n, i) for n in range(len(BASES)) for i in range(6, 9)]  # (then runs of one)
    bases = [make() for make in BASES.values()]
    if named:
        bases = [dataclasses.replace(b, token=ShapeToken()) for b in bases]
    for n, i in order:
        seid = 0x1000 + (n << 8) + i
        programs[seid] = _session(bases[n], n, i)
        shared.install(seid, programs[seid])
    # a session replaced by another of its shape (its old tunnels' End Markers)
    again = _session(bases[0], 0, 30)
    shared.install(0x1000 + 1, again, end_markers=EVERY_FAR)
    programs[0x1000 + 1] = again
    markers = shared.take_pending()
    kept = dict(zip([0x1000 + (n << 8) + i for n, i in order] + [0x1001], spy.kept, strict=True))
    assert sum(kept.values()) >= len(order) // 2  # (most through a kept descriptor)
    assert not any(kept[0x1000 + (7 << 8) + i] for i in range(9))  # (duplicating: never)
    alone_markers: list[PacketResult] = []
    for at, (seid, program) in enumerate(list(programs.items())):
        alone = fresh()
        alone_spy = DescriptorRecorder(alone)
        if seid == 0x1001:
            alone.install(seid, _session(bases[0], 0, 1))
            alone.install(seid, program, end_markers=EVERY_FAR)
            alone_markers = alone.take_pending()
        else:
            alone.install(seid, program)
        assert not any(alone_spy.kept)  # (the long way)
        want = alone_spy.descriptors[-1]
        got = spy.descriptors[-1] if seid == 0x1001 else spy.descriptors[order.index(_at(seid))]
        assert got == want, f"session 0x{seid:x}: descriptor"
        assert _state(shared, seid, program) == _state(alone, seid, program), f"0x{seid:x}"
        assert at < len(programs)
    assert markers == alone_markers and len(markers) == 1
    tokens = [k for k in shared._shapes if isinstance(k, ShapeToken)]
    assert len(tokens) == (len(BASES) - 1 if named else 0)  # (by token; duplicating: none)


def test_a_token_shared_by_two_shapes_installs_another_session(
    fresh: Callable[[], LocalDatapath],
) -> None:
    """A token that names two shapes (a planted bug: the engine's is one per shape) packs
    sessions of one over the other's descriptor: the check above sees it."""
    token = ShapeToken()
    first = dataclasses.replace(basic_program(), token=token)
    ul, dl = first.pdrs
    other = dataclasses.replace(first, pdrs=(dataclasses.replace(ul, precedence=7), dl))
    dp = fresh()
    spy = DescriptorRecorder(dp)
    for i in range(3):
        dp.install(0x10 + i, _session(first, 0, i))
    dp.install(0x20, _session(other, 1, 0))
    assert spy.kept[-1]
    alone = fresh()
    alone_spy = DescriptorRecorder(alone)
    alone.install(0x20, _session(other, 1, 0))
    assert spy.descriptors[-1] != alone_spy.descriptors[-1]


def _at(seid: int) -> tuple[int, int]:
    return (seid - 0x1000) >> 8, seid & 0xFF


@pytest.mark.parametrize("named", [False, True], ids=["by key", "by token"])
def test_a_kept_shape_refuses_what_alone_is_refused(
    fresh: Callable[[], LocalDatapath], named: bool
) -> None:
    """A session whose F-TEID another holds, or whose TEID cannot be packed, is refused
    through a kept descriptor as alone, and changes nothing; the descriptor refused is
    not kept (by its key or its token, ``named``); the next one of the shape installs
    right."""
    dp = fresh()
    base = basic_program()
    if named:
        base = dataclasses.replace(base, token=ShapeToken())
    key = base.token if named else _shape_key(base)
    for i in range(3):
        dp.install(0x10 + i, _session(base, 0, i))
    assert key in dp._shapes
    taken = dataclasses.replace(_session(base, 0, 5), pdrs=_session(base, 0, 1).pdrs)
    with pytest.raises(DatapathError) as info:
        dp.install(0x20, taken)
    assert key not in dp._shapes  # (the library refused it)
    dp.install(0x23, _session(base, 0, 8))
    dp.install(0x24, _session(base, 0, 9))
    assert key in dp._shapes
    alone = fresh()
    alone.install(0x11, _session(base, 0, 1))
    with pytest.raises(DatapathError) as alone_info:
        alone.install(0x20, taken)
    assert str(info.value) == str(alone_info.value)
    ul, dl = _session(base, 0, 6).pdrs
    assert ul.local_fteid is not None
    big = dataclasses.replace(ul, local_fteid=(ul.local_fteid[0], 1 << 32))
    with pytest.raises(corelib.OutOfRange, match="teid"):
        dp.install(0x21, dataclasses.replace(_session(base, 0, 6), pdrs=(big, dl)))
    assert key not in dp._shapes  # (a value its record cannot hold)
    assert 0x20 not in dp._programs and 0x21 not in dp._programs
    good = _session(base, 0, 7)
    dp.install(0x22, good)
    alone = fresh()
    alone.install(0x22, good)
    assert _state(dp, 0x22, good) == _state(alone, 0x22, good)
