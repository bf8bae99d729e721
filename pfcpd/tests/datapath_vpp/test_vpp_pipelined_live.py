"""VppDatapath pipelined (as the daemon opens it) against a private VPP with the upf plugin:
a batch with a program VPP refuses in its middle settles with that session refused only,
the others installed in VPP as pfcpd holds them; changes of one session keep their order;
the precompiled reply decoder answers what vpp_papi's would. Skipped, naming what is
missing, without root, VPP or the plugin."""

from __future__ import annotations

import pytest
from test_vpp_live import held, program, settings
from vpp_instance import VppInstance

from pfcpd.datapath.interface import Interface, Pdr, SessionProgram
from pfcpd.datapath.vpp import datapath as vdp
from pfcpd.datapath.vpp import translate as tr
from pfcpd.datapath.vpp.client import VppCallError
from pfcpd.datapath.vpp.datapath import VppDatapath
from pfcpd.datapath.vpp.wire import REPLY, SessionReply

BAD = SessionProgram(pdrs=(Pdr(1, 1, Interface.ACCESS, far_id=9),), fars=())  # no FAR 9


def test_a_batch_settles_with_the_refused_session_only(vpp: VppInstance) -> None:
    dp = VppDatapath(settings(vpp), pipelined=True)
    try:
        dp.start()
        n = 3 * vdp.POST_EVERY
        for seid in range(1, n + 1):
            dp.install(seid, BAD if seid == n // 2 else program(seid))
        failed = dp.settle()
        assert list(failed) == [n // 2] and isinstance(failed[n // 2], VppCallError)
        want = {s: dp._programs[s][1] for s in range(1, n + 1) if s != n // 2}
        assert held(dp) == want and n // 2 not in dp._programs
        assert dp.remove(n // 2) == {}  # (the engine's undo of the establishment)
        # The changes of one session, in order: the last one is what VPP holds.
        for teid in (0x7001, 0x7002, 0x7003):
            dp.install(5, program(5, teid=teid))
        dp.install(6, program(6, teid=0x7100))
        assert dp.settle() == {}
        cookie = dp._session_call(5, tr.OP_MODIFY, program(5, teid=0x7003))[1]
        assert held(dp)[5] == cookie and dp._programs[5][1] == cookie
        assert held(dp)[6] == dp._programs[6][1]
        # A modification VPP refuses leaves the session as it was, in VPP and in pfcpd.
        before = held(dp)[7]
        dp.install(7, BAD)
        assert list(dp.settle()) == [7]
        assert held(dp)[7] == before == dp._programs[7][1]
        for seid in want:
            dp.remove(seid)
        assert held(dp) == {}
    finally:
        dp.close()


def test_the_precompiled_reply_decoder_is_used_and_agrees(vpp: VppInstance) -> None:
    dp = VppDatapath(settings(vpp))
    try:
        dp.start()
        call, _ = dp._session_call(0x11, tr.OP_CREATE, program(0x11))
        reply = dp._do(call)  # decoded by the precompiled decoder
        assert type(reply) is SessionReply and type(reply).__name__ == REPLY
        assert reply.retval == 0 and reply.usage == [] and reply.now_ns > 0
        # A reply with usage (the delete) is vpp_papi's, with the same fields.
        final = dp._do(dp._session_call(0x11, tr.OP_DELETE, None)[0])
        assert type(final) is not SessionReply and type(final).__name__ == REPLY
        assert all(hasattr(final, f) for f in SessionReply._fields)
        assert final.retval == 0 and final.n_usage == 1 and len(final.usage) == 1
        with pytest.raises(VppCallError):  # a refusal: vpp_papi's decoder, its error text
            dp._do(dp._session_call(0x12, tr.OP_CREATE, BAD)[0])
    finally:
        dp.close()
