"""`pfcp.cp_allocated_fteids: accept`: an SMF that allocates F-TEIDs itself (free5GC's does,
whatever the UP function's FTUP) gives each PDR its F-TEID without CH. pfcpd takes it for
the session when it is on our N3 address and its TEID is free (else 71 with the F-TEID as
Offending IE, as a refused one), PDRs of one request naming the same F-TEID sharing it;
the TEID is the session's until a modification or the deletion lets it go, and a restart
gives it back to the session. With the default (`refuse`) it is 71, TS 29.244 5.5.1
(test_fteid_allocation_option.py). Every message sent is read by tshark's PFCP dissector."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from docs_config import minimal_config_text
from session_harness import (
    N3,
    Harness,
    cause,
    created,
    dl_far,
    dl_pdr,
    establishment,
    g,
    gtpu,
    qer,
    restarted,
    ul_far,
    ul_packet,
    ul_pdr,
    up_seid,
    urr,
)

from pfcpd.config import ConfigError, parse_config
from pfcpd.datapath.local.engine import LocalDatapath, Verdict
from pfcpd.pfcp import IE, IEType, Message
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.session import EngineSettings

T = IEType


@pytest.fixture
def a(datapath: LocalDatapath) -> Iterator[Harness]:
    harness = Harness(datapath, accept_cp_fteids=True)
    yield harness
    harness.check_sent_with_tshark()
    assert harness.engine.metrics.errors.get("request") == 0


def _fteid(teid: int, address: str = str(N3)) -> A.FTEID:
    return A.FTEID(teid, address)


def _rules(teid: int, address: str = str(N3)) -> list[IE]:
    """Two uplink PDRs on the CP's F-TEID (the second for another flow), the UE address
    chosen by pfcpd (CHV4)."""
    second = ul_pdr(pdr_id=3, fteid=_fteid(teid, address), sdf="permit out 17 from any to any")
    return [
        ul_pdr(fteid=_fteid(teid, address)),
        second,
        dl_pdr(),
        ul_far(),
        dl_far(),
        qer(),
        urr(1),
    ]


def _offending(resp: Message) -> list[int]:
    return [int(ie.value) for ie in resp.get_all(T.OFFENDING_IE)]  # type: ignore[attr-defined]


def _ue(resp: Message) -> str:
    ue = created(resp)[2][T.UE_IP_ADDRESS]
    assert isinstance(ue, A.UEIPAddress) and ue.ipv4 is not None
    return ue.ipv4


def test_the_cps_fteid_is_taken_and_forwards(a: Harness) -> None:
    """Two PDRs share the CP's F-TEID: one TEID held; its uplink forwards; the answer's
    Created PDRs carry only what pfcpd allocated (the UE address); sessions of other TEIDs
    again and again, none learnt as a shape (each takes its own TEID)."""
    for n, teid in enumerate((0x2, 0x10, 0xABCDEF01)):
        resp = a.request(establishment(*_rules(teid), cp_seid=0x50 + n))
        assert cause(resp) == 1, resp
        assert all(T.F_TEID not in ies for ies in created(resp).values())
        assert a.engine.teids.in_use == n + 1
        assert a.dp.process_ul(gtpu(ul_packet(_ue(resp)), teid)).verdict == Verdict.FORWARD
    assert a.engine.memos.establishments == {}


def test_a_taken_teid_or_another_address_is_71_and_takes_nothing(a: Harness) -> None:
    assert cause(a.request(establishment(*_rules(0x2), cp_seid=0x60))) == 1
    ue_in_use = sum(a.engine.ue_pools.usage().values())
    for rules_ in (_rules(0x2), _rules(0x3, "203.0.113.7"), _rules(0)):
        resp = a.request(establishment(*rules_, cp_seid=0x61))
        assert cause(resp) == 71 and _offending(resp) == [T.F_TEID], resp
        assert len(a.engine.sessions) == 1 and a.engine.teids.in_use == 1
        assert sum(a.engine.ue_pools.usage().values()) == ue_in_use
    # A session asking pfcpd to choose (CH) never gets a TEID the CP took.
    ch = a.establish(cp_seid=0x62)
    fteid = created(ch)[1][T.F_TEID]
    assert isinstance(fteid, A.FTEID) and fteid.teid not in (0, 2)


def test_modification_and_deletion_let_the_teids_go(a: Harness) -> None:
    """A Create PDR on a new CP F-TEID takes it; an Update PDR moving PDR 1 and PDR 3 to
    it lets the first one go (a new session may take it); the deletion lets the rest go."""
    resp = a.request(establishment(*_rules(0x20), cp_seid=0x70))
    seid, ue = up_seid(resp), _ue(resp)
    pdi = g(
        T.PDI,
        S.SourceInterface(0),
        _fteid(0x21),
        X.NetworkInstance("internet"),
        A.UEIPAddress(ue, source=True),
    )
    new_pdr = g(T.CREATE_PDR, S.PDRID(5), S.Precedence(100), pdi, S.FARID(1), S.URRID(1))
    assert cause(a.modify(seid, new_pdr)) == 1
    assert a.engine.teids.in_use == 2
    moves = [g(T.UPDATE_PDR, S.PDRID(p), pdi) for p in (1, 3)]
    assert cause(a.modify(seid, *moves)) == 1
    assert a.engine.teids.in_use == 1
    assert a.dp.process_ul(gtpu(ul_packet(ue), 0x21)).verdict == Verdict.FORWARD
    assert a.dp.process_ul(gtpu(ul_packet(ue), 0x20)).verdict != Verdict.FORWARD
    assert cause(a.request(establishment(*_rules(0x20), cp_seid=0x71))) == 1
    assert cause(a.delete(seid)) == 1
    assert a.engine.teids.in_use == 1
    assert cause(a.request(establishment(*_rules(0x21), cp_seid=0x72))) == 1


def test_a_restart_gives_the_session_its_teid_back(a: Harness) -> None:
    resp = a.request(establishment(*_rules(0x30), cp_seid=0x80))
    ue = _ue(resp)
    a.engine.commit()
    with restarted(a, 1) as engine:
        assert engine.teids.used(0x30)
        assert engine.datapath.process_ul(gtpu(ul_packet(ue), 0x30)).verdict == Verdict.FORWARD


def test_the_key_and_its_default() -> None:
    data = yaml.safe_load(minimal_config_text())
    assert not EngineSettings.from_config(parse_config(data)).accept_cp_fteids
    data["pfcp"]["cp_allocated_fteids"] = "accept"
    assert EngineSettings.from_config(parse_config(data)).accept_cp_fteids
    data["pfcp"]["cp_allocated_fteids"] = "yes"
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert err.value.errors[0].startswith("pfcp.cp_allocated_fteids:")


def test_the_same_request_again_is_never_filled_from_a_shape(a: Harness) -> None:
    """Established and deleted again and again with the same octets (the CP reusing its
    TEID): each time the TEID is taken, so a second session on it is still 71 (a shape
    would fill the session in without taking it)."""
    for _ in range(4):
        resp = a.request(establishment(*_rules(0x40), cp_seid=0x90))
        assert cause(resp) == 1 and a.engine.teids.in_use == 1
        assert cause(a.delete(up_seid(resp))) == 1
        assert a.engine.teids.in_use == 0
    assert cause(a.request(establishment(*_rules(0x40), cp_seid=0x90))) == 1
    resp = a.request(establishment(*_rules(0x40), cp_seid=0x91))
    assert cause(resp) == 71 and _offending(resp) == [T.F_TEID]
