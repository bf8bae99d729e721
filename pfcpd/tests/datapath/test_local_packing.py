"""The install path packs a program into the very bytes it packed before its records were
packed positionally (`reference_packing`: a dict of fields per record, `Layout.pack_at`),
for every kind of rule, and refuses what it refused with the same error."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable

import pytest
from conftest import require_core
from descriptor_recorder import relative
from dp_programs import (
    N3_GNB6,
    N3_UPF6,
    UE6,
    basic_program,
    duplicating_program,
    ims_program,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_packing import reference_program

from pfcpd.datapath.interface import (
    ApplyAction,
    Bar,
    DatapathError,
    DuplicateEncap,
    DuplicatingParameters,
    Far,
    Interface,
    Pdr,
    Qer,
    SdfFilter,
    SessionProgram,
    Urr,
)
from pfcpd.datapath.local import corelib

V4 = ipaddress.IPv4Address("192.0.2.1")
V6 = ipaddress.IPv6Address("2001:db8::1")


@pytest.fixture(scope="module")
def k() -> corelib.Constants:
    require_core()
    return corelib.load().k


def packed(k: corelib.Constants, program: SessionProgram) -> bytes:
    """The buffer the datapath hands the library, its pointers made offsets into it."""
    from pfcpd.datapath.local.engine import _Desc

    desc = _Desc(k, program)
    return relative(bytes(desc.buf), corelib.ctypes.addressof(desc.desc))


def reference(k: corelib.Constants, program: SessionProgram) -> bytes:
    return relative(*reference_program(k, program))


def _sdf_program() -> SessionProgram:
    prog = basic_program()
    ul, dl = prog.pdrs
    full = SdfFilter(
        protocol=17,
        remote=ipaddress.ip_network("198.51.100.0/24"),
        ue=ipaddress.ip_network("10.45.0.7/32"),
        remote_ports=(1000, 2000),
        ue_ports=(53, 53),
        tos=(0x2E, 0xFC),
        spi=0xDEADBEEF,
        flow_label=0xFFFFF,
    )
    six = SdfFilter(protocol=6, remote=ipaddress.ip_network("2001:db8::/32"), ue_ports=(80, 443))
    return dataclasses.replace(
        prog,
        pdrs=(
            dataclasses.replace(ul, sdf_filters=(full, SdfFilter())),
            dataclasses.replace(dl, sdf_filters=(six,), qfi=5),
            Pdr(3, 10, Interface.CORE, 2, sdf_filters=(SdfFilter(spi=7), full)),
        ),
    )


def _rules_program() -> SessionProgram:
    """Every QER, URR, BAR and FAR field set, and PDRs with the most QERs and URRs."""
    prog = basic_program()
    ul, dl = prog.pdrs
    return dataclasses.replace(
        prog,
        pdrs=(
            dataclasses.replace(ul, qer_ids=(1, 2), urr_ids=(1, 2, 3, 4), network_instance=3),
            dataclasses.replace(dl, qer_ids=(), urr_ids=(), local_fteid=None, ue_ip=None),
        ),
        fars=(
            *prog.fars,
            Far(3, ApplyAction.BUFF | ApplyAction.NOCP, Interface.ACCESS, dscp=0),
            Far(4, ApplyAction.FORW, Interface.CORE, redirect=(0, V4), network_instance=2),
            Far(5, ApplyAction.FORW, Interface.CORE, redirect=(1, V6)),
            Far(6, ApplyAction.FORW, Interface.CORE, redirect=(2, "http://portal.example")),
            Far(
                7,
                ApplyAction.FORW,
                Interface.CORE,
                outer_header_creation=(N3_GNB6, 0xFFFFFFFF),
                ohc_source=N3_UPF6,
                pdu_session_container=False,
                dscp=63,
            ),
            Far(8, ApplyAction.DROP),
        ),
        qers=(
            Qer(1, gate_ul_open=False, qfi=63, rqi=True, mbr_ul=1 << 40, mbr_dl=5, gbr_ul=3),
            Qer(3, qfi=5, ppi=0),
            Qer(4, ppi=7),
            Qer(2, gate_dl_open=False, gbr_dl=1 << 63, burst_bytes=1 << 31),
        ),
        urrs=(
            Urr(1, volume_threshold=(100, 0, 50), time_threshold_ns=10**9),
            Urr(2, volume_quota=(1 << 63, 1, 2), time_quota_ns=3 * 10**9, drop_on_quota=False),
            Urr(3, volume_threshold=(1, 2, 3), volume_quota=(4, 5, 6)),
            Urr(4),
        ),
        bar=Bar(9, max_packets=65535, max_bytes=1 << 31, duration_ns=5 * 10**9),
    )


def _duplicating_variety() -> SessionProgram:
    """DUPL FARs with two copies, every encapsulation, and FARs after them (whose
    dupl_first follows the copies before them)."""
    prog = duplicating_program()
    ul, dl = prog.fars
    copies = (
        DuplicatingParameters(Interface.CORE),
        DuplicatingParameters(
            Interface.ACCESS, DuplicateEncap.IP, peer=V6, source=N3_UPF6, dscp=10
        ),
    )
    return dataclasses.replace(
        prog,
        fars=(
            Far(9, ApplyAction.FORW),
            dataclasses.replace(ul, duplicating=(*ul.duplicating, *copies)),
            Far(10, ApplyAction.DROP),
            dataclasses.replace(
                dl,
                duplicating=(
                    dataclasses.replace(dl.duplicating[0], forwarding_policy=65535),
                    dataclasses.replace(dl.duplicating[0], pdu_session_container=False),
                ),
            ),
            Far(11, ApplyAction.FORW, redirect=(0, V4)),
        ),
        bar=Bar(1),
    )


PROGRAMS: dict[str, Callable[[], SessionProgram]] = {
    "basic": basic_program,
    "ipv6 N3 and UE": lambda: basic_program(ue=UE6, n3_upf=N3_UPF6, n3_gnb=N3_GNB6),
    "ipv6 UE, ipv4 N3": lambda: basic_program(ue=UE6),
    "buffering": lambda: basic_program(dl_action=ApplyAction.BUFF, dscp=None),
    "network instance 1": ims_program,
    "duplicating": duplicating_program,
    "duplicating variety": _duplicating_variety,
    "sdf filters": _sdf_program,
    "every rule field": _rules_program,
    "empty": lambda: SessionProgram((), ()),
}


@pytest.mark.parametrize("name", PROGRAMS)
def test_a_program_packs_as_it_did(k: corelib.Constants, name: str) -> None:
    program = PROGRAMS[name]()
    want = reference(k, program)
    assert packed(k, program) == want
    assert packed(k, program) == want  # again: rules that repeat come packed from a cache


def test_a_rule_packed_for_one_program_serves_the_next(k: corelib.Constants) -> None:
    """The records of rule objects sessions share are packed once: another program with
    the same objects in other places (and other objects equal to them) packs right."""
    a = _rules_program()
    b = dataclasses.replace(
        a,
        fars=tuple(reversed(a.fars)),
        qers=(a.qers[1], dataclasses.replace(a.qers[0])),
        urrs=(*a.urrs[2:], *a.urrs[:2]),
    )
    for program in (a, b, a, b):
        assert packed(k, program) == reference(k, program)


# -- programs of one shape ------------------------------------------------------------------
# The datapath keeps a program's descriptor by shape (`engine._shape_key`) and packs only
# what differs between the sessions of one shape (PDRs, FARs with outer header creation, the
# BAR) over the last one's: each must still pack as it does alone.


def _respun(program: SessionProgram, i: int, reshaped: bool = False) -> SessionProgram:
    """``program`` as another session of its shape has it: other F-TEIDs, UE addresses,
    GTP-U peers, TEIDs and sources, another BAR; the same objects for its other rules (as
    the session engine hands them out). ``reshaped``: also other UE prefix lengths, and
    apply actions, DSCP and PDU session containers of the GTP-U FARs (another shape)."""
    v4, v6 = ipaddress.IPv4Address(0x0A000000 + i), ipaddress.IPv6Address((0xFD << 120) + i)

    def pdr(p: Pdr) -> Pdr:
        fteid = None if p.local_fteid is None else (v6 if i % 2 else v4, 0x10000 + i)
        ue = p.ue_ip
        if ue is not None:
            plen = ue.max_prefixlen - i % 3 if reshaped else ue.prefixlen
            ue = ipaddress.ip_network(f"{v4 if ue.version == 4 else v6}/{plen}", strict=False)
        return dataclasses.replace(p, local_fteid=fteid, ue_ip=ue)

    def far(f: Far) -> Far:
        if f.outer_header_creation is None:
            return f
        f = dataclasses.replace(
            f,
            outer_header_creation=(v4 if i % 2 else v6, 0x20000 + i),
            ohc_source=v6 if i % 2 else v4,
        )
        if not reshaped:
            return f
        action = ApplyAction.BUFF | ApplyAction.NOCP if i % 3 == 1 else ApplyAction.FORW
        return dataclasses.replace(
            f,
            apply_action=action,
            pdu_session_container=bool(i % 2),
            dscp=None if i % 2 else i % 64,
        )

    bar = program.bar
    if bar is not None:
        bar = Bar(bar.bar_id, max_packets=i, max_bytes=2 * i, duration_ns=(i % 2) * 10**9)
    return dataclasses.replace(
        program, pdrs=tuple(map(pdr, program.pdrs)), fars=tuple(map(far, program.fars)), bar=bar
    )


def _by_shape(dp: object, program: SessionProgram) -> tuple[bytes, tuple[object, ...]]:
    """The descriptor the datapath ``dp`` installs ``program`` with (its pointers made
    offsets; a kept one with the program's slots written in by the library, which installs
    nothing without a context), and what it keeps of it and `_ticking`."""
    from pfcpd.datapath.local.engine import LocalDatapath

    assert isinstance(dp, LocalDatapath)
    with dp._lock:
        desc, *rest = dp._packed(program, 0, 0x42)
        put = dp._put
        ctx, put.ctx = put.ctx, None
        try:
            assert not dp._session_put(dp._put_ref)
        finally:
            put.ctx = ctx
        assert dp._err.value == b"no context or result (NULL)"
        return relative(bytes(desc.buf), desc.addr), tuple(rest)


def _alone(program: SessionProgram) -> tuple[object, ...]:
    from pfcpd.datapath.local.engine import _kept, _ticking

    return _kept(program), _ticking(program)


@pytest.mark.parametrize("name", PROGRAMS)
def test_programs_of_one_shape_pack_as_each_alone(
    k: corelib.Constants, datapath: object, name: str
) -> None:
    base = PROGRAMS[name]()
    if not base.pdrs:
        base = dataclasses.replace(base, bar=Bar(1))
    programs = [base, _respun(base, 1), _respun(base, 2), base, _respun(base, 3)]
    assert len({packed(k, p) for p in programs}) > 1 or not base.pdrs  # (they differ)
    for program in programs:
        assert _by_shape(datapath, program) == (reference(k, program), _alone(program))
    duplicating = any(f.duplicating for f in base.fars)
    assert len(datapath._shapes) == (0 if duplicating else 1)  # type: ignore[attr-defined]


def test_shapes_kept_apart(k: corelib.Constants, datapath: object) -> None:
    """Programs of other shapes (other rule objects, counts, SDF filters, a BAR or not)
    each pack as they do alone, in any order."""
    basic, sdf, rules = basic_program(), _sdf_program(), _rules_program()
    other_qer = dataclasses.replace(basic, qers=(Qer(1, qfi=5),))
    more = dataclasses.replace(
        basic, pdrs=(*basic.pdrs, dataclasses.replace(basic.pdrs[1], pdr_id=3))
    )
    barred = dataclasses.replace(basic, bar=Bar(4, duration_ns=1))
    # the same rules but one: each time, one of equal count and ID
    ul, dl = basic.pdrs
    other_far = dataclasses.replace(basic, fars=(Far(1, ApplyAction.DROP), basic.fars[1]))
    other_urr = dataclasses.replace(basic, urrs=(Urr(1, time_quota_ns=10**9),))
    other_pdr = dataclasses.replace(basic, pdrs=(ul, dataclasses.replace(dl, far_id=1)))
    other_qer_ids = dataclasses.replace(basic, pdrs=(ul, dataclasses.replace(dl, qer_ids=())))
    sdf_ul, *sdf_rest = sdf.pdrs
    filters = (SdfFilter(protocol=6), SdfFilter(spi=9))
    other_sdf = dataclasses.replace(
        sdf, pdrs=(dataclasses.replace(sdf_ul, sdf_filters=filters), *sdf_rest)
    )
    programs = [
        basic,
        _respun(basic, 1, reshaped=True),
        _respun(basic, 2, reshaped=True),
        _respun(basic, 3, reshaped=True),
        sdf,
        rules,
        other_qer,
        more,
        barred,
        other_far,
        other_urr,
        other_pdr,
        other_qer_ids,
        other_sdf,
    ]
    for i in range(3):
        for program in programs:
            program = _respun(program, i) if i else program
            assert _by_shape(datapath, program) == (reference(k, program), _alone(program))
    assert len(datapath._shapes) == len(programs)  # type: ignore[attr-defined]


_PDR_CHANGES: dict[str, object] = {
    "pdr_id": 9,
    "precedence": 7,
    "source_interface": Interface.CORE,
    "far_id": 2,
    "network_instance": 1,
    "qfi": 3,
    "outer_header_removal": 1,
    "qer_ids": (),
    "urr_ids": (1, 1),
    "local_fteid": None,
    "ue_ip": None,
    "sdf_filters": (SdfFilter(protocol=17),),
}
_FAR_CHANGES: dict[str, object] = {
    "far_id": 3,
    "apply_action": ApplyAction.DROP,
    "destination_interface": Interface.CORE,
    "network_instance": 2,
    "pdu_session_container": False,
    "dscp": 10,
    "redirect": (0, V4),
}


@pytest.mark.parametrize(
    "rule, field", [("pdr", f) for f in _PDR_CHANGES] + [("far", f) for f in _FAR_CHANGES]
)
def test_every_other_field_makes_another_shape(
    k: corelib.Constants, datapath: object, rule: str, field: str
) -> None:
    """A program that differs from another only in one field its sessions do not set
    themselves (of its uplink PDR, of its GTP-U FAR) packs as it does alone, before and
    after the other."""
    a = basic_program()
    ul, dl = a.pdrs
    if rule == "pdr":
        b = dataclasses.replace(
            a, pdrs=(dataclasses.replace(ul, **{field: _PDR_CHANGES[field]}), dl)
        )
    else:
        ohc = dataclasses.replace(a.fars[1], **{field: _FAR_CHANGES[field]})
        b = dataclasses.replace(a, fars=(a.fars[0], ohc))
    assert reference(k, a) != reference(k, b)
    for program in (a, b, _respun(a, 1), _respun(b, 2), a):
        assert _by_shape(datapath, program) == (reference(k, program), _alone(program))
    assert len(datapath._shapes) == 2  # type: ignore[attr-defined]


def test_a_shape_is_kept_the_second_time_it_comes(k: corelib.Constants, datapath: object) -> None:
    """Programs whose rules are their own (a URR object each) keep no descriptor; a shape
    that comes again does, and its programs pack as alone either way."""
    base = basic_program()
    shapes: dict[object, object] = datapath._shapes  # type: ignore[attr-defined]
    for i in range(5):
        own = dataclasses.replace(_respun(base, i), urrs=(Urr(1),))
        assert _by_shape(datapath, own) == (reference(k, own), _alone(own))
    assert not shapes
    for i, kept in ((1, 0), (2, 1), (3, 1)):
        program = _respun(base, i)
        assert _by_shape(datapath, program) == (reference(k, program), _alone(program))
        assert len(shapes) == kept


def test_a_refused_program_leaves_its_shape_right(k: corelib.Constants, datapath: object) -> None:
    """A program refused while its shape's descriptor was being packed over (a TEID too
    large for its field, a FAR without its outer header's source) is refused as alone;
    the next program of the shape packs right."""
    base = basic_program()
    assert _by_shape(datapath, base)[0] == reference(k, base)
    for name in ("pdr teid", "pdr five urrs", "far ohc teid", "far without ohc source"):
        bad = _TOO_LARGE[name](base)
        assert _refused(lambda bad=bad: _by_shape(datapath, bad)) == _refused(
            lambda bad=bad: reference_program(k, bad)
        )
        good = _respun(base, 7)
        assert _by_shape(datapath, good)[0] == reference(k, good)


def _ue_forms(base: SessionProgram, i: int) -> SessionProgram:
    """``base`` (at least three PDRs with UE IPs) as a session has it whose PDRs' UE IPs
    come in form ``i % 6``: one network object for all, for some, None for some (between
    others), other prefix lengths or families; its other rules the same objects."""
    a4 = ipaddress.ip_network(f"10.{i % 200}.0.{i % 250}/32")
    b4 = ipaddress.ip_network(f"10.{i % 200}.1.0/24")
    a6 = ipaddress.ip_network(f"fd00:{i:x}::/64")
    forms: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network | None, ...]] = [
        (a4, a4, a4),
        (a4, None, a4),
        (a4, b4, a4),
        (None, a4, None),
        (a6, a4, a6),
        (a4, a4, b4),
    ]
    ues = forms[i % 6]
    pdrs = tuple(
        dataclasses.replace(p, ue_ip=ues[n]) if n < len(ues) else p for n, p in enumerate(base.pdrs)
    )
    return dataclasses.replace(_respun(base, i), pdrs=pdrs)


def test_many_programs_of_interleaved_shapes(k: corelib.Constants, datapath: object) -> None:
    """Many sessions of a few shapes, in runs and interleaved, whose PDRs' UE IPs differ
    in form (a network shared by some PDRs, None between, other prefix lengths), and
    programs that share some of their rule objects but not all (the same FARs, QERs and
    URRs with one PDR or one rule of their own): each packs as it does alone, and a value
    its field cannot hold is refused as alone, the programs after it packing right."""
    ul, dl = basic_program().pdrs
    third = dataclasses.replace(dl, pdr_id=3, precedence=50, ue_ip=dl.ue_ip)
    base = dataclasses.replace(basic_program(), pdrs=(ul, dl, third))
    sdf = _sdf_program()
    rules = _rules_program()
    own_pdr = dataclasses.replace(base, pdrs=(ul, dl, dataclasses.replace(third, precedence=51)))
    own_far = dataclasses.replace(base, fars=(Far(1, ApplyAction.FORW), base.fars[1]))
    own_qer = dataclasses.replace(base, qers=(dataclasses.replace(base.qers[0]),))
    bases = [base, sdf, rules, own_pdr, own_far, own_qer]
    programs: list[SessionProgram] = []
    for i in range(60):  # (runs of one shape, then every shape in turn)
        b = bases[i // 10] if i < 30 else bases[i % len(bases)]
        programs.append(_ue_forms(b, i) if len(b.pdrs) >= 3 else _respun(b, i))
    for n, program in enumerate(programs):
        assert _by_shape(datapath, program) == (reference(k, program), _alone(program))
        if n % 7 == 3:
            for name in ("pdr teid", "far ohc teid", "far without ohc source"):
                bad = _TOO_LARGE[name](program)
                assert _refused(lambda bad=bad: _by_shape(datapath, bad)) == _refused(
                    lambda bad=bad: reference_program(k, bad)
                )
    assert datapath._shapes  # type: ignore[attr-defined]  # (some kept: packed over)


def _refused(pack: Callable[[], object]) -> tuple[type[BaseException], str]:
    with pytest.raises(DatapathError) as info:
        pack()
    return info.type, str(info.value)


_TOO_LARGE: dict[str, Callable[[SessionProgram], SessionProgram]] = {
    "pdr teid": lambda p: dataclasses.replace(
        p, pdrs=(dataclasses.replace(p.pdrs[0], local_fteid=(V4, 1 << 32)), *p.pdrs[1:])
    ),
    "pdr precedence": lambda p: dataclasses.replace(
        p, pdrs=(dataclasses.replace(p.pdrs[0], precedence=-1), *p.pdrs[1:])
    ),
    "pdr urr id": lambda p: dataclasses.replace(
        p, pdrs=(dataclasses.replace(p.pdrs[0], urr_ids=(1, 1 << 32)), *p.pdrs[1:])
    ),
    "pdr five urrs": lambda p: dataclasses.replace(
        p, pdrs=(dataclasses.replace(p.pdrs[0], urr_ids=(1, 2, 3, 4, 5)), *p.pdrs[1:])
    ),
    "pdr not an integer": lambda p: dataclasses.replace(
        p,
        pdrs=(dataclasses.replace(p.pdrs[0], network_instance=None), *p.pdrs[1:]),  # type: ignore[arg-type]
    ),
    "sdf port": lambda p: dataclasses.replace(
        p,
        pdrs=(
            dataclasses.replace(p.pdrs[0], sdf_filters=(SdfFilter(ue_ports=(1, 1 << 16)),)),
            *p.pdrs[1:],
        ),
    ),
    "far ohc teid": lambda p: dataclasses.replace(
        p,
        fars=(p.fars[0], dataclasses.replace(p.fars[1], outer_header_creation=(V4, 1 << 32))),
    ),
    "far without ohc source": lambda p: dataclasses.replace(
        p, fars=(p.fars[0], dataclasses.replace(p.fars[1], ohc_source=None))
    ),
    "far redirect family": lambda p: dataclasses.replace(
        p, fars=(dataclasses.replace(p.fars[0], redirect=(0, V6)), p.fars[1])
    ),
    "far network instance": lambda p: dataclasses.replace(
        p, fars=(dataclasses.replace(p.fars[0], network_instance=1 << 16), p.fars[1])
    ),
    "dupl without peer": lambda p: dataclasses.replace(
        p,
        fars=(
            dataclasses.replace(
                p.fars[0],
                duplicating=(DuplicatingParameters(Interface.CORE, DuplicateEncap.UDP),),
            ),
            p.fars[1],
        ),
    ),
    "dupl port": lambda p: dataclasses.replace(
        p,
        fars=(
            dataclasses.replace(
                p.fars[0],
                duplicating=(
                    DuplicatingParameters(
                        Interface.CORE, DuplicateEncap.UDP, peer=V4, source=V4, port=1 << 16
                    ),
                ),
            ),
            p.fars[1],
        ),
    ),
    "qer qfi": lambda p: dataclasses.replace(p, qers=(Qer(1, qfi=256),)),
    "qer ppi": lambda p: dataclasses.replace(p, qers=(Qer(1, ppi=8),)),
    "urr four volumes": lambda p: dataclasses.replace(
        p,
        urrs=(Urr(1, volume_quota=(1, 2, 3, 4)),),  # type: ignore[arg-type]
    ),
    "urr volume": lambda p: dataclasses.replace(
        p, urrs=(Urr(1, volume_threshold=(1 << 64, 0, 0)),)
    ),
    "bar packets": lambda p: dataclasses.replace(p, bar=Bar(1, max_packets=1 << 16)),
}


@pytest.mark.parametrize("name", _TOO_LARGE)
def test_what_cannot_be_packed_is_refused_as_before(k: corelib.Constants, name: str) -> None:
    from pfcpd.datapath.local.engine import _Desc

    program = _TOO_LARGE[name](basic_program())
    assert _refused(lambda: _Desc(k, program)) == _refused(lambda: reference_program(k, program))


# -- any program ---------------------------------------------------------------------------
_u8, _u16, _u32 = st.integers(0, 255), st.integers(0, 65535), st.integers(0, 2**32 - 1)
_addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6))
_networks = st.one_of(
    st.builds(
        lambda a, n: ipaddress.ip_network(f"{a}/{n}", strict=False),
        st.ip_addresses(v=4),
        st.integers(0, 32),
    ),
    st.builds(
        lambda a, n: ipaddress.ip_network(f"{a}/{n}", strict=False),
        st.ip_addresses(v=6),
        st.integers(0, 128),
    ),
)
_ports = st.tuples(_u16, _u16)
_sdfs = st.builds(
    SdfFilter,
    protocol=st.none() | _u8,
    remote=st.none() | _networks,
    ue=st.none() | _networks,
    remote_ports=st.none() | _ports,
    ue_ports=st.none() | _ports,
    tos=st.none() | st.tuples(_u8, _u8),
    spi=st.none() | _u32,
    flow_label=st.none() | st.integers(0, 2**20 - 1),
)
_pdrs = st.builds(
    Pdr,
    pdr_id=_u32,
    precedence=_u32,
    source_interface=st.sampled_from(Interface),
    far_id=_u32,
    local_fteid=st.none() | st.tuples(_addresses, _u32),
    ue_ip=st.none() | _networks,
    network_instance=_u16,
    qfi=st.none() | st.integers(0, 63),
    sdf_filters=st.lists(_sdfs, max_size=3).map(tuple),
    outer_header_removal=st.none() | st.integers(0, 6),
    qer_ids=st.lists(_u32, max_size=2).map(tuple),
    urr_ids=st.lists(_u32, max_size=4).map(tuple),
)
_copies = st.builds(
    lambda dest, encap, peer, teid, port, psc, dscp, policy: DuplicatingParameters(
        dest, encap, peer, peer, teid, port, psc, dscp, policy
    ),
    st.sampled_from(Interface),
    st.sampled_from(DuplicateEncap),
    _addresses,
    _u32,
    _u16,
    st.booleans(),
    st.none() | st.integers(0, 63),
    _u16,
)
_redirects = st.one_of(
    st.ip_addresses(v=4).map(lambda a: (0, a)),
    st.ip_addresses(v=6).map(lambda a: (1, a)),
    st.just((2, "http://portal.example")),
)
_fars = st.builds(
    Far,
    far_id=_u32,
    apply_action=st.sampled_from(list(ApplyAction)),
    destination_interface=st.sampled_from(Interface),
    network_instance=_u16,
    outer_header_creation=st.none() | st.tuples(_addresses, _u32),
    ohc_source=_addresses,
    pdu_session_container=st.booleans(),
    dscp=st.none() | st.integers(0, 63),
    redirect=st.none() | _redirects,
    duplicating=st.lists(_copies, max_size=2).map(tuple),
)
_u64 = st.integers(0, 2**64 - 1)
_qers = st.builds(
    Qer,
    qer_id=_u32,
    gate_ul_open=st.booleans(),
    gate_dl_open=st.booleans(),
    qfi=st.none() | st.integers(0, 63),
    rqi=st.booleans(),
    ppi=st.none() | st.integers(0, 7),
    mbr_ul=_u64,
    mbr_dl=_u64,
    gbr_ul=_u64,
    gbr_dl=_u64,
    burst_bytes=_u32,
)
_volumes = st.none() | st.tuples(_u64, _u64, _u64)
_urrs = st.builds(
    Urr,
    urr_id=_u32,
    volume_threshold=_volumes,
    volume_quota=_volumes,
    time_threshold_ns=_u64,
    time_quota_ns=_u64,
    drop_on_quota=st.booleans(),
)
_programs = st.builds(
    SessionProgram,
    pdrs=st.lists(_pdrs, max_size=4).map(tuple),
    fars=st.lists(_fars, max_size=4).map(tuple),
    qers=st.lists(_qers, max_size=3).map(tuple),
    urrs=st.lists(_urrs, max_size=3).map(tuple),
    bar=st.none() | st.builds(Bar, _u32, _u16, _u32, _u64),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=_programs)
def test_any_program_packs_as_it_did(program: SessionProgram) -> None:
    require_core()
    k = corelib.load().k
    assert packed(k, program) == reference(k, program)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=_programs, spins=st.lists(st.integers(0, 7), min_size=1, max_size=4))
def test_any_program_packs_by_shape_as_alone(program: SessionProgram, spins: list[int]) -> None:
    """Any program, then other sessions of its shape, through one datapath's kept
    descriptors: each packs (or is refused) as it does alone."""
    require_core()
    from pfcpd.datapath.local.engine import LocalDatapath

    k = corelib.load().k
    dp = LocalDatapath(expected_sessions=4)
    try:
        respun = [_respun(program, i, reshaped=i > 3) for i in spins]
        for p in (program, *respun, program):
            try:
                want: object = (reference(k, p), _alone(p))
            except DatapathError as exc:
                want = (type(exc), str(exc))
            try:
                got: object = _by_shape(dp, p)
            except DatapathError as exc:
                got = (type(exc), str(exc))
            assert got == want
    finally:
        dp.close()


def test_a_packing_that_assumes_another_field_order_is_refused() -> None:
    """The install path states the field order it packs in (`Layout.expect`): a layout
    that differs (a binding out of step with its packers) is refused at import."""
    layout = corelib.Layout(corelib.BarT)
    layout.expect("bar_id max_pkts max_bytes duration_grant duration_ns")
    with pytest.raises(corelib.CoreLibMismatch, match="max_pkts bar_id"):
        layout.expect("max_pkts bar_id max_bytes duration_grant duration_ns")
