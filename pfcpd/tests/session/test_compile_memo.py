"""FARs, QERs and URRs compiled once per group octets, PDRs once per the octets the CP sent,
FARs creating an outer header once per shape (`CompileContext.compiled`): sessions of one
shape share them; what a memo gives equals what compiling gives."""

from __future__ import annotations

import dataclasses
import ipaddress
import re

import pytest

from pfcpd.datapath.interface import ApplyAction
from pfcpd.pfcp import Grouped, IEType, decode, encode, encode_ies
from pfcpd.pfcp.ies_address import FTEID, UEIPAddress
from pfcpd.pfcp.ies_flags import ApplyAction as ApplyActionIE
from pfcpd.pfcp.ies_scalar import FARID, DestinationInterface
from pfcpd.pfcp.ies_text import ApplicationID
from pfcpd.session.compile import COMPILED_ENTRIES, CompileContext, compile_program
from pfcpd.session.errors import RuleError
from pfcpd.session.rules import RuleSet, ie_value
from pfcpd.session.shapes import far_shape
from pfcpd.smfsim import rules as R


def _rules(gnb_teid: int, extra: tuple[object, ...] = ()) -> RuleSet:
    ies = [*R.session_rules(gnb_teid=gnb_teid), *extra]
    msg = decode(encode(R.establishment_request("smf", "127.0.0.1", gnb_teid, ies, seq=1)))
    rs = RuleSet()
    rs.create(msg)
    return rs


def _ctx() -> CompileContext:
    return CompileContext(ipaddress.ip_address("127.0.0.1"), {"internet": 1}, lambda _: None)


def test_sessions_of_one_shape_share_their_compiled_rules() -> None:
    ctx = _ctx()
    a, b = _rules(1), _rules(2)
    pa = compile_program(ctx, a, encoded=a.encoded())
    pb = compile_program(ctx, b, encoded=b.encoded())
    for got, rules in ((pa, a), (pb, b)):
        assert got == compile_program(_ctx(), rules)  # the same program as without memo
    ul_a, dl_a = pa.fars
    ul_b, dl_b = pb.fars
    assert ul_a is ul_b and pa.qers[0] is pb.qers[0] and pa.urrs[0] is pb.urrs[0]
    # A FAR with outer header creation names the session's gNB TEID: kept by shape, each
    # session's with its own.
    assert dl_a is not dl_b and dl_a.outer_header_creation != dl_b.outer_header_creation
    assert len(ctx.compiled) == 4


def _dl_far(far_id: int, fp: list[object]) -> RuleSet:
    far = R.group(
        IEType.CREATE_FAR,
        FARID(far_id),
        ApplyActionIE.of("FORW"),
        R.group(IEType.FORWARDING_PARAMETERS, *fp),  # type: ignore[arg-type]
    )
    ies = [*R.session_rules()[:3], far, *R.session_rules()[4:]]
    msg = decode(encode(R.establishment_request("smf", "127.0.0.1", 1, ies, seq=1)))
    rs = RuleSet()
    rs.create(msg)
    return rs


@pytest.mark.parametrize(
    "peer", ["192.0.2.9", "192.0.2.10", "2001:db8::9"], ids=["same", "other", "ipv6"]
)
def test_a_far_kept_by_shape_takes_each_sessions_outer_header(peer: str) -> None:
    """The kept FAR (a gNB tunnel) is what compiling gives, with the session's own tunnel;
    one the FAR cannot create (an IPv6 peer, the N3 address being IPv4) is refused as
    without the memo."""
    ctx = _ctx()
    first = _dl_far(2, [DestinationInterface(0), R.gnb_tunnel(7, "192.0.2.9")])
    compile_program(ctx, first, encoded=first.encoded())
    rs = _dl_far(2, [DestinationInterface(0), R.gnb_tunnel(8, peer)])
    try:
        want = compile_program(_ctx(), rs)
    except RuleError as err:
        with pytest.raises(RuleError, match=re.escape(err.detail)):
            compile_program(ctx, rs, encoded=rs.encoded())
        return
    got = compile_program(ctx, rs, encoded=rs.encoded())
    assert got == want and got.fars[1].outer_header_creation == (ipaddress.ip_address(peer), 8)


def test_a_far_without_outer_header_is_not_given_a_kept_ones() -> None:
    """A FAR whose octets are those of a kept FAR without its outer header creation (what
    the FAR is kept by) compiles to no outer header."""
    ctx = _ctx()
    tunnel = _dl_far(2, [DestinationInterface(0), R.gnb_tunnel(7, "192.0.2.9")])
    compile_program(ctx, tunnel, encoded=tunnel.encoded())
    plain = _dl_far(2, [DestinationInterface(0)])
    got = compile_program(ctx, plain, encoded=plain.encoded())
    assert got.fars[1].outer_header_creation is None
    assert got == compile_program(_ctx(), plain)


def test_far_shape_leaves_out_the_outer_header_creation_only() -> None:
    a = _dl_far(2, [DestinationInterface(0), R.gnb_tunnel(7, "192.0.2.9")])
    b = _dl_far(2, [DestinationInterface(0), R.gnb_tunnel(8, "192.0.2.10")])
    plain = _dl_far(2, [DestinationInterface(0)])
    ra, rb, rp = (rs.far[2].raw for rs in (a, b, plain))
    assert ra is not None and rb is not None and rp is not None and ra != rb
    assert far_shape(ra) == far_shape(rb) == rp
    assert far_shape(rp) is None


def test_a_refused_rule_is_refused_each_time_and_not_kept() -> None:
    ctx = _ctx()
    dupl = R.group(IEType.CREATE_FAR, FARID(9), ApplyActionIE.of("FORW", "DUPL"))
    for _ in range(2):
        rs = _rules(1, (dupl,))
        with pytest.raises(RuleError, match="duplicating"):
            compile_program(ctx, rs, encoded=rs.encoded())
    kept = [getattr(rule, "apply_action", None) for rule in ctx.compiled.values()]
    assert kept and ApplyAction.DUPL not in kept  # (the uplink FAR compiled before it is)


def test_the_memo_stays_within_its_bound() -> None:
    ctx = _ctx()
    for urr_id in range(1, COMPILED_ENTRIES + 20):
        rs = _rules(1)
        rs.urr = {urr_id: R.urr(urr_id)}
        for pdr in rs.pdr.values():
            pdr.ies = [c for c in pdr.ies if c.type != IEType.URR_ID]
        compile_program(ctx, rs, encoded=rs.encoded())
        assert len(ctx.compiled) <= COMPILED_ENTRIES


def _allocated(rs: RuleSet, teid: int, ue: str) -> dict[int, bytes]:
    """What `SessionEngine._allocate` does to ``rs``' PDRs (F-TEID and UE address chosen),
    with the shapes it returns."""
    shapes: dict[int, bytes] = {}
    for pdr_id, pdr in rs.pdr.items():
        pdi = pdr.get(IEType.PDI)
        assert isinstance(pdi, Grouped)
        children = [
            FTEID(teid, "127.0.0.1")
            if isinstance(c, FTEID)
            else UEIPAddress(ipv4=ue, source=c.source)
            if isinstance(c, UEIPAddress)
            else c
            for c in pdi.ies
        ]
        new_pdi = Grouped(IEType.PDI, children)
        new = Grouped(pdr.type, [new_pdi if c is pdi else c for c in pdr.ies])
        assert pdr.raw is not None
        shapes[id(new)] = pdr.raw
        rs.pdr[pdr_id] = new
    return shapes


def test_pdrs_of_one_shape_compile_once_and_get_their_own_f_teid_and_ue_address() -> None:
    ctx = _ctx()
    programs = []
    for n in (1, 2, 3):
        rs = _rules(n)
        shapes = _allocated(rs, 100 + n, f"10.0.0.{n}")
        got = compile_program(ctx, rs, encoded=rs.encoded(), shapes=shapes)
        assert got == compile_program(_ctx(), rs)  # the same program as without memo
        programs.append(got)
        assert len(ctx.compiled) == 4 + 2  # UL FAR, DL FAR shape, QER, URR, two PDR shapes
    for n, program in enumerate(programs, 1):
        ul, dl = program.pdrs
        assert ul.local_fteid == (ipaddress.ip_address("127.0.0.1"), 100 + n)
        assert ul.ue_ip == dl.ue_ip == ipaddress.ip_network(f"10.0.0.{n}/32")
        assert dl.local_fteid is None


def test_a_pdr_naming_an_application_is_compiled_each_time() -> None:
    """(Its SDF filters come from the application's PFDs, which change.)"""
    flows: dict[str, tuple[str, ...]] = {"app": ("permit out ip from 192.0.2.1 to assigned",)}
    ctx = CompileContext(ipaddress.ip_address("127.0.0.1"), {"internet": 1}, flows.get)
    for n, flow in enumerate(("192.0.2.1", "192.0.2.2"), 1):
        flows["app"] = (f"permit out ip from {flow} to assigned",)
        rs = _rules(n)
        for pdr in rs.pdr.values():
            pdi = pdr.get(IEType.PDI)
            assert isinstance(pdi, Grouped)
            pdi.ies.append(ApplicationID("app"))
            pdi.raw = pdr.raw = None
            pdr.raw = encode_ies([pdr])
        shapes = _allocated(rs, n, f"10.0.0.{n}")
        got = compile_program(ctx, rs, encoded=rs.encoded(), shapes=shapes)
        assert got == compile_program(
            CompileContext(ipaddress.ip_address("127.0.0.1"), {"internet": 1}, flows.get), rs
        )
        assert str(got.pdrs[0].sdf_filters[0].remote) == f"{flow}/32"
        assert not any(isinstance(v, tuple) for v in ctx.compiled.values())


def test_the_engine_installs_what_its_stored_rules_compile_to() -> None:
    """Establishments of one shape (the second one on takes the PDRs' memo) and a
    modification creating a PDR: each installed program is what the session's stored rules
    compile to afresh, with the session's own F-TEID and UE address."""
    from pfcpd.datapath.local.engine import LocalDatapath
    from pfcpd.node.session_handler import Peer
    from pfcpd.pfcp.ies_address import NodeID
    from pfcpd.session import EngineSettings, MemoryJournal, SessionEngine

    lo = ipaddress.ip_address("127.0.0.1")
    pool = (ipaddress.ip_network("10.45.0.0/24"),)
    settings = EngineSettings(n3_address=lo, pfcp_address=lo, ue_pools={"internet": pool})
    engine = SessionEngine(settings, LocalDatapath(), MemoryJournal())
    installed = {}
    install = engine.datapath.install

    def recording(seid, program, **kwargs):  # type: ignore[no-untyped-def]
        installed[seid] = program
        install(seid, program, **kwargs)

    engine.datapath.install = recording  # type: ignore[method-assign]
    peer, node_id = Peer("smf", ("127.0.0.1", 8805)), NodeID.from_text("127.0.0.1")
    for n in (1, 2, 3):
        req = R.establishment_request("smf", "127.0.0.1", n, R.session_rules(gnb_teid=n), seq=n)
        engine.handle_request(decode(encode(req)), peer, node_id, 0.0)
        engine.commit()
    seid = max(engine.sessions)
    mod = R.modification_request(seid, [R.ul_pdr(pdr_id=3, far_id=1)], seq=9)
    answer = engine.handle_request(decode(encode(mod)), peer, node_id, 0.0)
    assert ie_value(answer, IEType.CAUSE) == 1
    engine.commit()
    teids, ues = set(), set()
    for seid, session in engine.sessions.items():
        program = installed[seid]
        fresh = dataclasses.replace(engine._ctx, compiled={})  # (no memo)
        assert program == compile_program(fresh, session.rules)
        teids.update(p.local_fteid for p in program.pdrs if p.local_fteid)
        ues.update(p.ue_ip for p in program.pdrs)
    assert len(teids) == len(ues) == 4  # (the new PDR took a TEID and an address)
    assert any(isinstance(v, tuple) for v in engine._ctx.compiled.values())
