"""A Session Establishment Request that fails to decode is answered to the CP's SEID, from
its CP F-SEID, when that decodes (TS 29.244 7.2.2.4.2: SEID 0 only when the peer's SEID is
not available), through the sans-IO node with the engine on the local datapath. Every
message sent is read by tshark's PFCP dissector (the ``h`` fixture)."""

from __future__ import annotations

from session_harness import (
    CP,
    Harness,
    cause,
    dl_far,
    dl_pdr,
    establishment,
    qer,
    ul_far,
    ul_pdr,
    urr,
)

from pfcpd.pfcp import Grouped, IEType, Message, MessageType, encode, encode_datagram
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp

T = IEType
M = MessageType


def _without_source_interface() -> Message:
    """An establishment (CP SEID 0xC0FFEE) whose uplink PDI lacks its Source Interface."""
    pdr = ul_pdr()
    pdi = pdr.get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies = [ie for ie in pdi.ies if ie.type != T.SOURCE_INTERFACE]
    return establishment(pdr, dl_pdr(), ul_far(), dl_far(), qer(), urr(1))


def _offending(resp: Message) -> list[int]:
    return [int(ie.value) for ie in resp.get_all(T.OFFENDING_IE)]  # type: ignore[attr-defined]


def test_a_rule_that_fails_to_decode_is_answered_to_the_cp_seid(h: Harness) -> None:
    resp = h.request(_without_source_interface())
    assert resp.msg_type == M.SESSION_ESTABLISHMENT_RESPONSE
    assert cause(resp) == 66 and _offending(resp) == [T.SOURCE_INTERFACE]
    assert resp.seid == 0xC0FFEE
    assert h.engine.sessions == {}


def test_the_cp_seid_is_found_in_a_later_message_of_the_datagram(h: Harness) -> None:
    """A Heartbeat Request, then the establishment (FO): the second message's F-SEID."""
    heartbeat = Message(M.HEARTBEAT_REQUEST, 501, [RecoveryTimeStamp(3_900_000_000)])
    bad = _without_source_interface()
    bad.seq = 502
    h.node.datagram_received(encode_datagram([heartbeat, bad]), CP, h.now)
    answers = {m.seq: m for m in h._collect()}
    resp = answers[502]
    assert cause(resp) == 66 and resp.seid == 0xC0FFEE


def test_an_f_seid_that_does_not_decode_leaves_seid_0(h: Harness) -> None:
    """Its flags name no address: the F-SEID is what is wrong, the CP's SEID unknown."""
    data = bytearray(encode(establishment(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), urr(1))))
    at = 16
    while int.from_bytes(data[at : at + 2], "big") != T.F_SEID:
        at += 4 + int.from_bytes(data[at + 2 : at + 4], "big")
    data[at + 4] = 0  # (no V4, no V6)
    data[12:15] = (777).to_bytes(3, "big")  # (the sequence number, after the SEID)
    h.node.datagram_received(bytes(data), CP, h.now)
    (resp,) = h._collect()
    assert resp.msg_type == M.SESSION_ESTABLISHMENT_RESPONSE and resp.seq == 777
    assert cause(resp) == 69 and _offending(resp) == [T.F_SEID] and resp.seid == 0
    assert h.engine.sessions == {}


def test_a_grouped_ie_with_trailing_octets_is_68_naming_it(h: Harness) -> None:
    """Octets inside a grouped IE that are no IE: 68 "Invalid length" with the Offending IE
    naming the group (TS 29.244 Table 7.5.3.1-1: present when a mandatory or conditional
    IE is faulty); octets after a message's last IE name none."""
    from pfcpd.pfcp.ie import RawIE

    resp = h.establish(RawIE(T.CREATE_PDR, b"\x00"), dl_pdr(), ul_far(), dl_far(), qer(), urr(1))
    assert cause(resp) == 68
    offending = resp.get(T.OFFENDING_IE)
    assert offending is not None and offending.value == T.CREATE_PDR  # type: ignore[attr-defined]
