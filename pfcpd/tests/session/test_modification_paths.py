"""Session Modification does what its rule groups change and no more: stored PDRs compile
once per shape (`shapes.pdr_shape`), URR books are copied on write, references are checked
for the rules created or updated (all of them when one is removed), and what is derived
from the PDRs and the BAR is derived again when the request has PDR or BAR groups. Each
test fails when its shortcut skips what the request did change."""

from __future__ import annotations

import ipaddress

import pytest
from scapy.contrib.gtp import GTP_U_Header
from scapy.layers.inet import IP
from session_harness import (
    Harness,
    cause,
    created,
    dl_far,
    dl_packet,
    dl_pdr,
    g,
    gtpu,
    ohc,
    qer,
    ul_far,
    ul_packet,
    ul_pdr,
    up_seid,
    urr,
)
from test_pfd_and_sets import UE as UE_PFD
from test_pfd_and_sets import dl

from pfcpd.datapath.interface import SessionProgram
from pfcpd.datapath.local.engine import Verdict
from pfcpd.pfcp import IE, Grouped, IEType, Message, MessageType, decode, encode, encode_ies
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.session import compile as compile_module
from pfcpd.session.addresses import drop_shared, shared_network
from pfcpd.session.rules import RuleSet
from pfcpd.session.session import ue_network
from pfcpd.session.shapes import pdr_shape
from pfcpd.smfsim import rules as R

T = IEType
M = MessageType
DN_OTHER = "203.0.113.1"


def _session(h: Harness, *rules: IE, cp_seid: int) -> tuple[int, int, str]:
    """(UP SEID, UL F-TEID, UE address) of a new session."""
    resp = h.establish(*(rules or _rules()), cp_seid=cp_seid)
    assert cause(resp) == 1
    pdr = created(resp)[1]
    fteid, ue = pdr[T.F_TEID], pdr[T.UE_IP_ADDRESS]
    assert isinstance(fteid, A.FTEID) and fteid.teid is not None
    assert isinstance(ue, A.UEIPAddress) and ue.ipv4 is not None
    return up_seid(resp), fteid.teid, ue.ipv4


def _rules() -> list[IE]:
    return [ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1)]


def _installs(h: Harness, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, SessionProgram]]:
    """The programs the engine hands the datapath from now on."""
    installed: list[tuple[int, SessionProgram]] = []
    real = h.dp.install

    def install(
        seid: int, program: SessionProgram, end_markers: frozenset[int] = frozenset()
    ) -> None:
        installed.append((seid, program))
        real(seid, program, end_markers)

    monkeypatch.setattr(h.dp, "install", install)
    return installed


def test_stored_pdrs_of_one_shape_compile_once_and_keep_their_own_tunnel_and_ue(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = [_session(h, cp_seid=0x10 + i) for i in range(3)]
    calls: list[int] = []
    real = compile_module.pdr_common

    def counted(ctx: object, pdr_id: int, group: Grouped) -> object:
        calls.append(pdr_id)
        return real(ctx, pdr_id, group)  # type: ignore[arg-type]

    monkeypatch.setattr(compile_module, "pdr_common", counted)
    installed = _installs(h, monkeypatch)
    for i, (seid, _, _) in enumerate(sessions):
        assert cause(h.modify(seid, R.update_dl_far(2, 0x300 + i, "192.0.2.10"))) == 1
    assert calls == [1, 2]  # the first session's two PDRs; the others' from the memo
    # What was installed is what compiling the rules afresh gives, for every session.
    for seid, program in installed:
        assert program == h.engine._program(h.engine.sessions[seid])
    for i, (seid, teid, ue) in enumerate(sessions):
        res = h.dp.process_ul(gtpu(ul_packet(ue), teid))
        assert res.verdict == Verdict.FORWARD and res.seid == seid
        res = h.dp.process_dl(dl_packet(ue))
        assert res.seid == seid and IP(res.output)[GTP_U_Header].teid == 0x300 + i


def test_a_pdr_of_another_shape_compiles_to_its_own_rules(h: Harness) -> None:
    """Two sessions whose uplink PDRs differ by an SDF filter: after a modification each
    keeps its own (a shape that left the filter out would give the second the first's)."""
    plain, _, ue_plain = _session(h, cp_seid=0x20)
    only_other = ul_pdr(sdf=f"permit out ip from {DN_OTHER} to assigned")
    rules = [only_other, dl_pdr(), ul_far(), dl_far(), qer(), urr(1)]
    filtered, teid_f, ue_f = _session(h, *rules, cp_seid=0x21)
    teid_plain = h.engine.sessions[plain].teids[0]
    for i, seid in enumerate((plain, filtered)):
        assert cause(h.modify(seid, R.update_dl_far(2, 0x400 + i, "192.0.2.10"))) == 1
    assert h.dp.process_ul(gtpu(ul_packet(ue_plain), teid_plain)).verdict == Verdict.FORWARD
    assert h.dp.process_ul(gtpu(ul_packet(ue_f), teid_f)).verdict == Verdict.DROP


def _decoded_pdrs(gnb_teid: int, ue: str, teid: int) -> RuleSet:
    """The PDRs of `R.session_rules` as a session keeps them (F-TEID and UE address
    chosen, encoded and decoded again)."""
    rules = R.session_rules(gnb_teid=gnb_teid)
    pdrs: list[IE] = []
    for pdr in rules[:2]:
        assert isinstance(pdr, Grouped)
        pdi = pdr.get(T.PDI)
        assert isinstance(pdi, Grouped)
        children: list[IE] = []
        for c in pdi.ies:
            if isinstance(c, A.FTEID):
                c = A.FTEID(teid, "192.0.2.1")
            elif isinstance(c, A.UEIPAddress):
                c = A.UEIPAddress(ipv4=ue, source=c.source)
            children.append(c)
        pdrs.append(
            Grouped(pdr.type, [Grouped(T.PDI, children) if c is pdi else c for c in pdr.ies])
        )
    request = R.establishment_request("smf", "127.0.0.1", 1, [*pdrs, *rules[2:]], 1)
    msg = decode(encode(request))
    rs = RuleSet()
    rs.create(msg)
    return rs


def test_pdr_shape_leaves_out_the_pdis_f_teid_and_ue_address_only() -> None:
    a = _decoded_pdrs(1, "10.0.0.1", 100)
    b = _decoded_pdrs(2, "10.0.0.2", 200)
    for pdr_id in (1, 2):
        ga, gb = a.pdr[pdr_id], b.pdr[pdr_id]
        assert ga.raw is not None and gb.raw is not None and ga.raw != gb.raw
        assert pdr_shape(ga.raw) == pdr_shape(gb.raw)
        pdi = ga.get(T.PDI)
        assert isinstance(pdi, Grouped)
        rest = [c for c in pdi.ies if c.type not in (T.F_TEID, T.UE_IP_ADDRESS)]
        want = [Grouped(T.PDI, rest) if c is pdi else c for c in ga.ies]
        assert pdr_shape(ga.raw) == encode_ies([Grouped(T.CREATE_PDR, want)])
    assert pdr_shape(a.pdr[1].raw) != pdr_shape(a.pdr[2].raw)  # type: ignore[arg-type]
    # Another precedence is another shape; a PDR without either IE is its own shape.
    other = Grouped(
        T.CREATE_PDR, [S.Precedence(7) if c.type == T.PRECEDENCE else c for c in a.pdr[1].ies]
    )
    assert pdr_shape(encode_ies([other])) != pdr_shape(a.pdr[1].raw)  # type: ignore[arg-type]
    bare = encode_ies(
        [g(T.CREATE_PDR, S.PDRID(5), S.Precedence(1), g(T.PDI, S.SourceInterface(1)), S.FARID(1))]
    )
    assert pdr_shape(bare) == bare


def test_a_rolled_back_urr_update_leaves_the_book_as_it_was(h: Harness) -> None:
    """The book the update reconfigures is a copy: the rollback puts back the one that
    reports VOLTH (with the book changed in place, the threshold crossed afterwards would
    go unreported)."""
    threshold = TR.VolumeThreshold(total=1000)
    rules = [ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1, "VOLTH", vt=threshold)]
    seid, teid, ue = _session(h, *rules, cp_seid=0x30)
    book = h.engine.sessions[seid].urrs[1]
    h.journal.fail_next = 1
    periodic = g(T.UPDATE_URR, S.URRID(1), F.ReportingTriggers.of("PERIO"), S.MeasurementPeriod(60))
    assert cause(h.modify(seid, periodic)) == 77
    assert h.engine.sessions[seid].urrs[1] is book and book.reports("VOLTH")
    for _ in range(8):
        h.dp.process_ul(gtpu(ul_packet(ue, 100), teid))  # 8 x 128 = 1024 bytes
    (report,) = [m for m in h.advance(0.2) if m.msg_type == M.SESSION_REPORT_REQUEST]
    (ur,) = report.get_all(T.USAGE_REPORT_REPORT_REQUEST)
    assert ur.get(T.USAGE_REPORT_TRIGGER).has("VOLTH")  # type: ignore[union-attr]
    h.answer(report)
    # Accepted, the update takes effect (a copy of the book, reconfigured).
    assert cause(h.modify(seid, periodic)) == 1
    now = h.engine.sessions[seid].urrs[1]
    assert now is not book and now.reports("PERIO") and not now.reports("VOLTH")
    assert book.reports("VOLTH")  # (the book before, as the undo would put it back)


def test_an_update_far_keeps_the_books_and_a_query_reports_from_a_copy(h: Harness) -> None:
    seid, teid, ue = _session(h, cp_seid=0x31)
    books = h.engine.sessions[seid].urrs
    assert cause(h.modify(seid, R.update_dl_far(2, 0x500, "192.0.2.10"))) == 1
    assert h.engine.sessions[seid].urrs is books  # (nothing to copy)
    h.dp.process_ul(gtpu(ul_packet(ue, 100), teid))
    resp = h.modify(seid, g(T.QUERY_URR, S.URRID(1)))
    (rep,) = resp.get_all(T.USAGE_REPORT_MODIFICATION_RESPONSE)
    assert rep.get(T.VOLUME_MEASUREMENT).ul == 128  # type: ignore[union-attr]
    assert books[1].seqn == 0 and h.engine.sessions[seid].urrs[1].seqn == 1


@pytest.mark.parametrize(
    ("ies", "failed"),
    [
        ((g(T.UPDATE_PDR, S.PDRID(1), S.FARID(9)),), (TR.RULE_ID_FAR, 9)),
        ((g(T.UPDATE_FAR, S.FARID(2), S.BARID(5)),), (TR.RULE_ID_BAR, 5)),
        ((g(T.UPDATE_URR, S.URRID(1), S.LinkedURRID(8)),), (TR.RULE_ID_URR, 8)),
        (
            (
                g(
                    T.CREATE_PDR,
                    S.PDRID(3),
                    S.Precedence(9),
                    g(T.PDI, S.SourceInterface(1)),
                    S.FARID(2),
                    S.URRID(7),
                ),
            ),
            (TR.RULE_ID_URR, 7),
        ),
        ((g(T.REMOVE_QER, S.QERID(1)),), (TR.RULE_ID_QER, 1)),  # (the PDRs still name it)
        ((g(T.REMOVE_FAR, S.FARID(2)),), (TR.RULE_ID_FAR, 2)),
        # Removes first, then updates (as before the request's groups were sorted by type).
        ((g(T.UPDATE_FAR, S.FARID(9)), g(T.REMOVE_QER, S.QERID(7))), (TR.RULE_ID_QER, 7)),
    ],
)
def test_references_of_the_rules_a_modification_changes_are_checked(
    h: Harness, ies: tuple[IE, ...], failed: tuple[int, int]
) -> None:
    seid, teid, ue = _session(h, cp_seid=0x40)
    record = h.journal.records[f"s:{seid:x}"]
    resp = h.modify(seid, *ies)
    assert cause(resp) == 73 and resp.get(T.FAILED_RULE_ID) == TR.FailedRuleID(*failed)
    assert h.journal.records[f"s:{seid:x}"] == record
    assert h.dp.process_ul(gtpu(ul_packet(ue), teid)).verdict == Verdict.FORWARD


def test_a_bar_update_changes_the_notification_delay(h: Harness) -> None:
    bar = g(T.CREATE_BAR, S.BARID(1), S.DownlinkDataNotificationDelay(10))  # 500 ms
    rules = [ul_pdr(), dl_pdr(), ul_far(), dl_far(action="BUFF+NOCP", bar=1), qer(), urr(1), bar]
    seid, _, _ = _session(h, *rules, cp_seid=0x50)
    assert h.engine.sessions[seid].ddn_delay == pytest.approx(0.5)
    update = g(T.UPDATE_BAR, S.BARID(1), S.DownlinkDataNotificationDelay(20))
    assert cause(h.modify(seid, update)) == 1
    assert h.engine.sessions[seid].ddn_delay == pytest.approx(1.0)


def _web_pdr(ue: str) -> tuple[Grouped, Grouped]:
    """A downlink PDR 3 of UE address ``ue`` naming the application "web", to its FAR 3 (a
    gNB tunnel): the groups a modification creates them with."""
    pdi = g(
        T.PDI,
        S.SourceInterface(1),
        X.NetworkInstance("internet"),
        A.UEIPAddress(ipv4=ue),
        X.ApplicationID("web"),
    )
    far3 = g(
        T.CREATE_FAR,
        S.FARID(3),
        F.ApplyAction.of("FORW"),
        g(T.FORWARDING_PARAMETERS, S.DestinationInterface(0), ohc(0x333)),
    )
    return far3, g(T.CREATE_PDR, S.PDRID(3), S.Precedence(10), pdi, S.FARID(3))


def _allocated(resp: Message, ie_type: int) -> dict[int, dict[int, IE]]:
    """The Created (or Updated) PDRs of ``resp``: PDR ID -> {IE type: IE}."""
    out: dict[int, dict[int, IE]] = {}
    for group in resp.get_all(ie_type):
        assert isinstance(group, Grouped)
        out[group.get(T.PDR_ID).value] = {ie.type: ie for ie in group.ies}  # type: ignore[union-attr]
    return out


def test_an_update_pdr_s_new_f_teid_is_answered_in_an_updated_pdr(h: Harness) -> None:
    """TS 29.244 Table 7.5.5.1-1 (Rel-16 on): the local F-TEID allocated for a PDR of an
    Update PDR (CH) is answered in an Updated PDR (IE 256: PDR ID, Local F-TEID), one for a
    PDR of a Create PDR in a Created PDR, in one request; tshark reads both groups. The
    uplink arrives on the new tunnel, the old one is freed."""
    from oracles import tshark_ies

    seid, old_teid, ue = _session(h, cp_seid=0x61)
    new_pdi = g(
        T.PDI,
        S.SourceInterface(0),
        A.FTEID(choose=True, choose_v4=True),
        X.NetworkInstance("internet"),
        A.UEIPAddress(ue, source=True),
    )
    fwd_pdi = g(T.PDI, S.SourceInterface(0), A.FTEID(choose=True, choose_v4=True))
    resp = h.modify(
        seid,
        g(T.UPDATE_PDR, S.PDRID(1), new_pdi),
        g(T.CREATE_PDR, S.PDRID(10), S.Precedence(100), fwd_pdi, S.FARID(1)),
    )
    assert cause(resp) == 1
    created_pdrs, updated = _allocated(resp, T.CREATED_PDR), _allocated(resp, T.UPDATED_PDR)
    assert set(created_pdrs) == {10} and set(updated) == {1}
    assert set(updated[1]) == {T.PDR_ID, T.F_TEID}
    new_fteid, fwd_fteid = updated[1][T.F_TEID], created_pdrs[10][T.F_TEID]
    assert isinstance(new_fteid, A.FTEID) and isinstance(fwd_fteid, A.FTEID)
    assert new_fteid.ipv4 == str(h.settings.n3_address)
    assert len({old_teid, new_fteid.teid, fwd_fteid.teid}) == 3
    assert h.dp.process_ul(gtpu(ul_packet(ue), new_fteid.teid or 0)).verdict == Verdict.FORWARD
    assert h.dp.process_ul(gtpu(ul_packet(ue), old_teid)).verdict == Verdict.DROP
    assert old_teid not in h.engine.sessions[seid].teids
    (ies,) = tshark_ies([encode(resp)])
    (shown,) = [ie for ie in ies if ie.type == T.UPDATED_PDR]
    assert [c.type for c in shown.children] == [T.PDR_ID, T.F_TEID]
    assert shown.children[0].fields["pfcp.pdr_id"] == ["1"]
    assert shown.children[1].fields["pfcp.f_teid.teid"] == [f"0x{new_fteid.teid:08x}"]
    (shown,) = [ie for ie in ies if ie.type == T.CREATED_PDR]
    assert shown.children[0].fields["pfcp.pdr_id"] == ["10"]


def test_an_update_pdr_s_new_ue_address_is_answered_in_an_updated_pdr(h: Harness) -> None:
    """A UE IP Address with CHV4 in the PDIs of Update PDRs: the address allocated (one for
    the session's PDRs of a network instance) is answered in each PDR's Updated PDR (PDR
    ID, UE IP Address), no Created PDR; the old address goes back to the pool."""
    seid, teid, ue = _session(h, cp_seid=0x62)
    ul = g(
        T.PDI,
        S.SourceInterface(0),
        A.FTEID(teid, str(h.settings.n3_address)),
        X.NetworkInstance("internet"),
        A.UEIPAddress(source=True, choose_v4=True),
    )
    dl = g(
        T.PDI, S.SourceInterface(1), X.NetworkInstance("internet"), A.UEIPAddress(choose_v4=True)
    )
    resp = h.modify(seid, g(T.UPDATE_PDR, S.PDRID(1), ul), g(T.UPDATE_PDR, S.PDRID(2), dl))
    assert cause(resp) == 1
    assert resp.get(T.CREATED_PDR) is None
    updated = _allocated(resp, T.UPDATED_PDR)
    assert set(updated) == {1, 2} and all(
        set(u) == {T.PDR_ID, T.UE_IP_ADDRESS} for u in updated.values()
    )
    new = updated[1][T.UE_IP_ADDRESS]
    assert isinstance(new, A.UEIPAddress) and new.ipv4 not in (None, ue)
    assert updated[2][T.UE_IP_ADDRESS].ipv4 == new.ipv4  # type: ignore[attr-defined]
    assert h.dp.process_ul(gtpu(ul_packet(new.ipv4 or ""), teid)).verdict == Verdict.FORWARD
    assert h.engine.sessions[seid].ue == (("internet", f"{new.ipv4}/32"),)


def test_a_created_application_pdr_is_known_by_its_application(h: Harness) -> None:
    pfd = TR.PFDContents(fd=b"permit out 17 from any 443 to assigned")
    app = g(T.APPLICATION_IDS_PFDS, X.ApplicationID("web"), g(T.PFD_CONTEXT, pfd))
    assert cause(h.request(Message(M.PFD_MANAGEMENT_REQUEST, 0, [app]))) == 1
    seid, _, ue = _session(h, cp_seid=0x51)
    assert h.engine.sessions[seid].apps == frozenset()
    assert cause(h.modify(seid, *_web_pdr(ue))) == 1
    assert h.engine.sessions[seid].apps == frozenset({"web"})


def test_a_created_pdr_naming_an_application_without_pfds_detects_nothing(h: Harness) -> None:
    """A modification creates a PDR naming an application whose PFDs were removed: it is
    accepted (the application is known), the PDR detecting no traffic until PFDs come."""
    pfd = TR.PFDContents(fd=b"permit out 17 from any 443 to assigned")
    app = g(T.APPLICATION_IDS_PFDS, X.ApplicationID("web"), g(T.PFD_CONTEXT, pfd))
    assert cause(h.request(Message(M.PFD_MANAGEMENT_REQUEST, 0, [app]))) == 1
    removal = g(T.APPLICATION_IDS_PFDS, X.ApplicationID("web"))
    assert cause(h.request(Message(M.PFD_MANAGEMENT_REQUEST, 0, [removal]))) == 1
    seid, _, ue = _session(h, cp_seid=0x52)
    assert ue == UE_PFD
    assert cause(h.modify(seid, *_web_pdr(ue))) == 1
    assert h.engine.sessions[seid].apps == frozenset({"web"})
    assert [h.dp.process_dl(dl(port)).pdr_id for port in (443, 80)] == [2, 2]
    assert cause(h.request(Message(M.PFD_MANAGEMENT_REQUEST, 0, [app]))) == 1
    assert [h.dp.process_dl(dl(port)).pdr_id for port in (443, 80)] == [3, 2]


@pytest.mark.parametrize(
    "text", ["10.45.0.1/32", "0.0.0.0/32", "10.45.0.0/24", "2001:db8::/64", "2001:db8::5/128"]
)
def test_networks_from_their_integer_are_those_of_the_text(text: str) -> None:
    want = ipaddress.ip_network(text)
    got = ue_network(text)
    assert got == want and type(got) is type(want) and got.prefixlen == want.prefixlen
    address, _, plen = text.partition("/")
    drop_shared()
    assert shared_network(address, int(plen)) == want
    assert shared_network("10.45.0.7", 24) == ipaddress.ip_network("10.45.0.0/24")  # (host bits)
    drop_shared()


@pytest.mark.parametrize("text", ["10.45.0.1/33", "10.45.0.1/24", "010.45.0.1/32", "x/32"])
def test_a_network_text_that_is_not_one_is_refused_as_before(text: str) -> None:
    with pytest.raises(ValueError):
        ipaddress.ip_network(text)
    with pytest.raises(ValueError):
        ue_network(text)
