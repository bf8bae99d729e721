"""FARs, QERs and URRs compiled once per group octets (`CompileContext.compiled`): sessions
of one shape share them; what a memo gives equals what compiling gives."""

from __future__ import annotations

import ipaddress

import pytest

from pfcpd.datapath.interface import ApplyAction
from pfcpd.pfcp import IEType, decode, encode
from pfcpd.pfcp.ies_flags import ApplyAction as ApplyActionIE
from pfcpd.pfcp.ies_scalar import FARID
from pfcpd.session.compile import COMPILED_ENTRIES, CompileContext, compile_program
from pfcpd.session.errors import RuleError
from pfcpd.session.rules import RuleSet
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
    # A FAR with outer header creation names the session's gNB TEID: compiled each time.
    assert dl_a is not dl_b and dl_a.outer_header_creation != dl_b.outer_header_creation
    assert len(ctx.compiled) == 3


def test_a_refused_rule_is_refused_each_time_and_not_kept() -> None:
    ctx = _ctx()
    dupl = R.group(IEType.CREATE_FAR, FARID(9), ApplyActionIE.of("DUPL"))
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
