"""Mangled session requests never break the engine: each gets a cause, a refusal leaves no
trace (no session, allocation or journal record), and no unexpected exception happens."""

from __future__ import annotations

import random

from session_harness import Harness, cause, establishment, standard_rules, up_seid

from pfcpd.pfcp import IE, Grouped, IEType, Message, MessageType

T = IEType
M = MessageType


def _mangle(rng: random.Random, ies: list[IE]) -> list[IE]:
    out: list[IE] = []
    for ie in ies:
        roll = rng.random()
        if roll < 0.08:
            continue  # dropped
        if isinstance(ie, Grouped) and roll < 0.5:
            ie = Grouped(ie.type, _mangle(rng, list(ie.ies)))
        out.append(ie)
        if roll > 0.95:
            out.append(ie)  # duplicated
    if rng.random() < 0.2:
        rng.shuffle(out)
    return out


def test_mangled_establishments_and_modifications(h: Harness) -> None:
    rng = random.Random(1234)
    accepted = 0
    for i in range(150):
        before = (len(h.engine.sessions), h.engine.teids.in_use, h.records)
        req = establishment(*_mangle(rng, standard_rules()), cp_seid=1000 + i)
        resp = h.request(req)
        c = cause(resp)
        assert c in (1, 64, 66, 67, 68, 69, 73, 79), (c, req)
        if c == 1:
            accepted += 1
            seid = up_seid(resp)
            mod = Message(M.SESSION_MODIFICATION_REQUEST, 0, _mangle(rng, standard_rules()), seid)
            mod.ies = [
                Grouped(T.UPDATE_PDR, list(ie.ies)) if ie.type == T.CREATE_PDR else ie
                for ie in mod.ies
                if isinstance(ie, Grouped)
            ]
            assert cause(h.request(mod)) in (1, 66, 67, 69, 73)
            assert cause(h.delete(seid)) == 1
        else:
            after = (len(h.engine.sessions), h.engine.teids.in_use, h.records)
            assert after == before
    assert accepted > 10
    assert h.engine.metrics.errors.get("request") == 0
    assert h.engine.sessions == {} and h.engine.teids.in_use == 0
