"""The answers to establishments of a shape with a `FillPlan` made from the shape's
`AnswerTemplate` (its octets with the session's SEID, TEIDs and UE addresses put in): byte
for byte what encoding the answer's IEs gives (the engine without templates) for the same
requests, over shapes of every kind (a CHOOSE ID shared by two PDRs, F-TEIDs of their
own, CHV4 from two network instances, a BAR, FQ-CSIDs; CHV6 and dual-stack, which have no
template), IPv4 and IPv6 N3 addresses, freed TEIDs and addresses taken again; never for
another Node ID or a refusal; read cleanly by tshark's PFCP dissector with the values the
session holds."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest
from datapath.conftest import require_core
from session_harness import Harness, created, up_seid
from test_shaped_install import SHAPES as SHAPED
from test_shaped_install import _on_n3

from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.node.session_handler import Peer
from pfcpd.pfcp import IE, Cause, IEType, Message, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp.encoded import EncodedMessage
from pfcpd.session import EngineSettings, MemoryJournal, SessionEngine, learning
from pfcpd.session import answers as answers_module
from pfcpd.session.rules import ie_value
from pfcpd.smfsim import rules as R

T = IEType
PEER, NODE = Peer("smf", ("127.0.0.1", 8805)), A.NodeID.from_text("127.0.0.1")

SHAPES: dict[str, Callable[[int], list[IE]]] = {
    **SHAPED,
    "chv6": lambda n: R.session_rules(v6=True, gnb_teid=0x700 + n),
    "dual_stack": lambda n: R.session_rules(dual_stack=True, gnb_teid=0x800 + n),
}
UNTEMPLATED = {"chv6", "dual_stack"}  # (no `FillPlan`: their UE IP Address is not CHV4 alone)


class _Run:
    """An engine on the local datapath: per establishment, the answer's octets and
    whether a template made it."""

    def __init__(self, n3: str) -> None:
        addr = ipaddress.ip_address(n3)
        pools = {
            "internet": (
                ipaddress.ip_network("10.45.0.0/22"),
                ipaddress.ip_network("2001:db8:45::/56"),
            ),
            "ims": (ipaddress.ip_network("10.46.0.0/22"),),
        }
        settings = EngineSettings(n3_address=addr, pfcp_address=addr, ue_pools=pools)
        self.v6 = addr.version == 6
        self.dp = LocalDatapath(expected_sessions=64)
        self.journal = MemoryJournal()
        self.engine = SessionEngine(settings, self.dp, self.journal, ntp_clock=lambda: 3.9e9)
        self.answers: list[bytes] = []
        self.templated: list[str] = []

    def handle(self, req: Message, node_id: A.NodeID = NODE) -> Message:
        answer = self.engine.handle_request(decode(encode(req)), PEER, node_id, 0.0)
        self.engine.commit()
        self.answers.append(encode(answer))
        return answer

    def script(self) -> None:
        """Five rounds of every shape, three of each in a row, each round deleting the
        sessions of the round two before (their TEIDs and addresses are taken again)."""
        seq = 0
        rounds: list[list[int]] = []
        for n in range(5):
            made: list[int] = []
            for name, make in SHAPES.items():
                for _ in range(3):
                    seq += 1
                    ies = _on_n3(make(seq), self.v6)
                    answer = self.handle(R.establishment_request("smf", "127.0.0.1", seq, ies))
                    assert ie_value(answer, T.CAUSE) == 1
                    if type(answer) is EncodedMessage:
                        self.templated.append(name)
                    made.append(up_seid(answer))
            rounds.append(made)
            if n >= 2:
                for seid in rounds[n - 2]:
                    seq += 1
                    self.handle(R.deletion_request(seid, seq=seq))


def _run(n3: str) -> _Run:
    run = _Run(n3)
    try:
        run.script()
    finally:
        run.dp.close()
    return run


@pytest.mark.parametrize("n3", ["127.0.0.1", "::1"])
def test_template_answers_are_the_answers_encoding_makes(
    n3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_core()
    templated = _run(n3)
    with monkeypatch.context() as m:
        m.setattr(learning, "answer_template", lambda *args: None)
        ordinary = _run(n3)
    assert ordinary.templated == []
    assert templated.answers == ordinary.answers
    assert templated.journal.records == ordinary.journal.records
    # Every establishment of a shape with a template but the two it was learnt from.
    for name in SHAPES:
        expected = 0 if name in UNTEMPLATED else 15 - 2
        assert templated.templated.count(name) == expected, name


def test_no_template_for_another_node_id_or_a_refusal() -> None:
    """The template names the Node ID it was made with: an answer naming another is made
    the ordinary way (and names that one); a refusal (the UE pool exhausted) is the
    ordinary cause answer."""
    require_core()
    lo = ipaddress.ip_address("127.0.0.1")
    pools = {"internet": (ipaddress.ip_network("10.45.0.0/29"),)}  # (6 addresses)
    settings = EngineSettings(n3_address=lo, pfcp_address=lo, ue_pools=pools)
    dp = LocalDatapath(expected_sessions=16)
    engine = SessionEngine(settings, dp, MemoryJournal(), ntp_clock=lambda: 3.9e9)
    other = A.NodeID.from_text("127.0.0.9")
    try:
        answers: list[Message] = []
        for seq, node_id in enumerate((NODE, NODE, NODE, other, NODE, NODE, NODE), 1):
            req = R.establishment_request("smf", "127.0.0.1", seq, R.session_rules(gnb_teid=seq))
            answers.append(engine.handle_request(decode(encode(req)), PEER, node_id, 0.0))
            engine.commit()
    finally:
        dp.close()
    kinds = [type(a).__name__ for a in answers]
    assert kinds == [
        "Message",  # (learnt: the long way twice)
        "Message",
        "EncodedMessage",
        "Message",  # (another Node ID)
        "EncodedMessage",
        "EncodedMessage",
        "Message",  # (the seventh UE address: none left)
    ]
    assert decode(encode(answers[3])).get(T.NODE_ID) == other
    assert decode(encode(answers[4])).get(T.NODE_ID) == NODE
    refusal = decode(encode(answers[6]))
    assert ie_value(refusal, T.CAUSE) == Cause.ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED
    assert [ie.type for ie in refusal.ies] == [T.NODE_ID, T.CAUSE]


def test_a_template_is_kept_only_if_it_gives_the_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """`answer_template` checks what it makes against the answer encoding gave: a template
    that would give other octets (here: checked against another UE address) is not kept,
    and without a Node ID first there is none."""
    lo = ipaddress.ip_address("127.0.0.1")
    pools = {"internet": (ipaddress.ip_network("10.45.0.0/24"),)}
    settings = EngineSettings(n3_address=lo, pfcp_address=lo, ue_pools=pools)
    dp = LocalDatapath(expected_sessions=8)
    engine = SessionEngine(settings, dp, MemoryJournal())
    made: list[tuple[object, ...]] = []
    real = answers_module.answer_template

    def spy(*args: object) -> object:
        made.append(args)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(learning, "answer_template", spy)
    try:
        for seq in (1, 2):
            req = R.establishment_request("smf", "127.0.0.1", seq, R.session_rules(gnb_teid=seq))
            engine.handle_request(decode(encode(req)), PEER, NODE, 0.0)
            engine.commit()
    finally:
        dp.close()
    ((fill, head, fseid, n3, (values, octets)),) = made
    assert real(fill, head, fseid, n3, (values, octets)) is not None  # type: ignore[arg-type]
    other = bytearray(octets)  # (another UE address: the last octet of the answer's)
    other[-1] ^= 1
    assert real(fill, head, fseid, n3, (values, bytes(other))) is None  # type: ignore[arg-type]
    assert real(fill, head[1:], fseid, n3, (values, octets)) is None  # type: ignore[arg-type]


def test_tshark_reads_template_answers(h: Harness) -> None:
    """Through the node (its header, sequence number and SEID): tshark's PFCP dissector
    reads the template answers cleanly (the harness checks every datagram sent) with the
    SEID, TEID and UE address the session holds."""
    from oracles import tshark_fields

    kinds: list[str] = []
    handle = h.engine.handle_request

    def spied(*args: object) -> Message:
        answer = handle(*args)  # type: ignore[arg-type]
        kinds.append(type(answer).__name__)
        return answer

    h.engine.handle_request = spied  # type: ignore[method-assign]
    answers = [h.establish(cp_seid=0xC0FFEE + n) for n in range(4)]
    assert all(ie_value(a, T.CAUSE) == 1 for a in answers)
    assert kinds == ["Message", "Message", "EncodedMessage", "EncodedMessage"]
    sent = h.sent[-4:]  # (the answers' datagrams, as the node sent them)
    fields = ["pfcp.seid", "pfcp.f_teid.teid", "pfcp.ue_ip_addr_ipv4", "pfcp.pdr_id"]
    rows = tshark_fields(sent[2:], fields)
    for n, row in zip((2, 3), rows, strict=True):
        seid = up_seid(answers[n])
        session = h.engine.sessions[seid]
        (teid,) = session.teids
        ((_, ue),) = session.ue
        assert row["pfcp.seid"] == [f"0x{0xC0FFEE + n:016x}", f"0x{seid:016x}"]
        assert row["pfcp.f_teid.teid"] == [f"0x{teid:08x}"]
        assert row["pfcp.ue_ip_addr_ipv4"] == [ue.split("/")[0]] * 2
        assert row["pfcp.pdr_id"] == ["1", "2"]
        assert created(answers[n])[1][T.F_TEID].teid == teid  # type: ignore[attr-defined]
