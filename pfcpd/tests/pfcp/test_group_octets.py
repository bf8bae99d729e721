"""Decoded groups keep their TLV octets (`Grouped.raw`), which `codec.encode_groups` reuses:
what it gives equals what `encode_ies` makes of the same IEs, before and after a group
changes."""

from __future__ import annotations

from sample_messages import all_samples, session_establishment_request, tlv

from pfcpd.pfcp import Grouped, IEType, decode, encode, encode_groups, encode_ies
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp.ie import IE
from pfcpd.pfcp.ies_address import OuterHeaderCreation
from pfcpd.pfcp.ies_flags import ApplyAction, PFCPSMReqFlags
from pfcpd.session.rules import merge_update


def _groups(ies: list[IE]) -> list[Grouped]:
    out: list[Grouped] = []
    for ie in ies:
        if isinstance(ie, Grouped):
            out.append(ie)
            out.extend(_groups(ie.ies))
    return out


def test_every_decoded_group_keeps_the_octets_it_came_in() -> None:
    seen = 0
    for msg in all_samples():
        for _ in range(2):  # (the second time, groups come from the decode cache's templates)
            decoded = decode(encode(msg))
            for group in _groups(decoded.ies):
                assert group.raw is not None and group.raw == encode_ies([group])
                seen += 1
            assert encode_groups(decoded.ies) == encode_ies(decoded.ies)
    assert seen > 50


def test_built_groups_keep_none() -> None:
    for msg in all_samples():
        assert all(g.raw is None for g in _groups(msg.ies))


def test_a_group_that_set_an_ie_aside_keeps_no_octets() -> None:
    msg = session_establishment_request()
    data = encode(msg)
    qer = encode_ies([msg.get(IEType.CREATE_QER)])
    # A Node ID inside the Create QER: not expected there, set aside (7.6.9).
    node_id = tlv(IEType.NODE_ID, b"\x00\x7f\x00\x00\x01")
    bad_qer = tlv(IEType.CREATE_QER, qer[4:] + node_id)
    body = data[16:].replace(qer, bad_qer)
    assert body != data[16:]
    header = data[:2] + (len(body) + 12).to_bytes(2, "big") + data[4:16]
    decoded = decode(header + body)
    assert decoded.ignored
    group = decoded.get(IEType.CREATE_QER)
    assert isinstance(group, Grouped) and group.raw is None
    assert encode_groups([group]) == encode_ies([group]) == qer  # (without the Node ID)


def test_changed_groups_are_encoded_again_and_the_others_reused() -> None:
    decoded = decode(encode(session_establishment_request()))
    far = decoded.get(IEType.CREATE_FAR)
    pdr = decoded.get(IEType.CREATE_PDR)
    assert isinstance(far, Grouped) and isinstance(pdr, Grouped)
    update = Grouped(IEType.UPDATE_FAR, [S.FARID(1), S.BARID(3)])
    merge_update(far, update)
    assert far.raw is None  # (merge_update drops them)
    assert S.BARID(3) in far.ies
    # A new group around a decoded one: the decoded one's octets are spliced in.
    pdi = pdr.get(IEType.PDI)
    assert isinstance(pdi, Grouped) and pdi.raw is not None
    wrapper = Grouped(IEType.CREATE_PDR, [S.PDRID(9), pdi])
    for ies in ([far], [wrapper], decoded.ies, [pdr, wrapper, far]):
        assert encode_groups(ies) == encode_ies(ies)


def test_an_update_creating_forwarding_parameters_stores_no_request_flags() -> None:
    """A buffering FAR without Forwarding Parameters turned to FORW with an Update
    Forwarding Parameters carrying PFCPSMReq-Flags (SNDEM): the flags belong to the
    request, not to the Forwarding Parameters the FAR now has (a Create FAR cannot hold
    them: stored, its octets would not decode as one)."""
    far = Grouped(IEType.CREATE_FAR, [S.FARID(2), ApplyAction.of("BUFF"), S.BARID(1)])
    far = decode_far(far)
    update = Grouped(
        IEType.UPDATE_FAR,
        [
            S.FARID(2),
            ApplyAction.of("FORW"),
            Grouped(
                IEType.UPDATE_FORWARDING_PARAMETERS,
                [
                    S.DestinationInterface(0),
                    OuterHeaderCreation(0x100, teid=7, ipv4="192.0.2.1"),
                    PFCPSMReqFlags.of("SNDEM"),
                ],
            ),
        ],
    )
    merge_update(far, update)
    params = far.get(IEType.FORWARDING_PARAMETERS)
    assert isinstance(params, Grouped)
    assert [c.type for c in params.ies] == [
        IEType.DESTINATION_INTERFACE,
        IEType.OUTER_HEADER_CREATION,
    ]
    assert decode_far(far).ies == far.ies  # (its octets decode as a Create FAR, nothing aside)


def decode_far(far: Grouped) -> Grouped:
    """``far`` as a Session Establishment Request carrying it decodes it."""
    msg = session_establishment_request()
    msg.ies = [ie for ie in msg.ies if ie.type != IEType.CREATE_FAR] + [far]
    decoded = decode(encode(msg))
    assert not decoded.ignored
    got = decoded.get_all(IEType.CREATE_FAR)[-1]
    assert isinstance(got, Grouped) and got.raw is not None
    return got


def test_octets_are_reused_not_encoded() -> None:
    """(What makes it cheaper: a group with octets is not encoded again; shown with octets
    that differ from the children on purpose.)"""
    decoded = decode(encode(session_establishment_request()))
    qer = decoded.get(IEType.CREATE_QER)
    assert isinstance(qer, Grouped) and qer.raw is not None
    qer.raw = tlv(IEType.CREATE_QER, b"")
    assert encode_groups([qer]) == qer.raw != encode_ies([qer])
