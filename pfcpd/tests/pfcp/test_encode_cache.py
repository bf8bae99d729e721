"""The encoding cache of `codec.encode_ies`: leaf IEs held elsewhere (the decoder's shared
instances) are re-encoded from their kept octets; the octets never change."""

from __future__ import annotations

import struct

import pytest
from sample_messages import all_samples, session_establishment_request

from pfcpd.pfcp import CodecError, codec, decode, encode, encode_ies
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp.ie import IE, Grouped, RawIE, VendorIE
from pfcpd.pfcp.ie_types import IEType as T
from pfcpd.pfcp.message_types import MessageType as M
from pfcpd.pfcp.messages import Message


def test_reencoding_decoded_messages_gives_their_octets_every_time() -> None:
    codec.drop_encode_cache()
    for msg in all_samples():
        data = encode(msg)
        decoded = decode(data)
        assert encode(decoded) == data  # (entries made)
        assert encode(decoded) == data  # (entries used)
        assert encode(decode(data)) == data


def test_shared_leaves_get_an_entry_and_one_off_ies_none() -> None:
    codec.drop_encode_cache()
    decode(encode(session_establishment_request()))  # (the decoder's instances)
    msg = decode(encode(session_establishment_request()))
    encode(msg)
    assert codec._ENCODED  # the decoder's shared leaves
    codec.drop_encode_cache()
    encode_ies([S.URRID(7), S.URSEQN(3)])  # built for one message, then freed
    assert not codec._ENCODED
    held = S.URRID(8)
    assert encode_ies([held]) == encode_ies([held]) == bytes.fromhex("0051000400000008")
    assert codec._ENCODED[id(held)] == (held, bytes.fromhex("0051000400000008"))


def test_the_cache_stays_within_its_bound() -> None:
    codec.drop_encode_cache()
    held = [S.URRID(i) for i in range(codec.ENCODE_CACHE_ENTRIES + 10)]
    for ie in held:
        assert encode_ies([ie]) == bytes.fromhex("00510004") + ie.value.to_bytes(4, "big")
        assert len(codec._ENCODED) <= codec.ENCODE_CACHE_ENTRIES
    codec.drop_encode_cache()


def reference_encode_ies(ies: list[IE]) -> bytes:
    """What encode_ies makes of ``ies``, written out in Python (no cache): a TLV per IE, a
    group's value its children's TLVs."""
    out = b""
    for ie in ies:
        value = reference_encode_ies(ie.ies) if type(ie) is Grouped else ie.encode()
        out += struct.pack("!HH", ie.type, len(value)) + value
    return out


def test_encode_ies_makes_the_reference_octets_cache_or_not() -> None:
    for msg in [*all_samples(), *(decode(encode(m)) for m in all_samples())]:
        codec.drop_encode_cache()
        expected = reference_encode_ies(msg.ies)
        assert encode_ies(msg.ies) == expected  # (entries made for the decoded messages)
        assert encode_ies(msg.ies) == expected  # (entries used)
    vendor = VendorIE(0x8001, 18681, b"\x01\x02")
    raw = RawIE(250, b"\xff" * 3)
    nested = Grouped(T.CREATE_PDR, [S.PDRID(1), Grouped(T.PDI, [raw, vendor]), Grouped(T.PDI, [])])
    assert encode_ies([nested, vendor]) == reference_encode_ies([nested, vendor])
    assert encode_ies([]) == b""


def test_encode_ies_refuses_what_a_tlv_cannot_hold() -> None:
    with pytest.raises(CodecError, match="vendor IE type 1 lacks the enterprise bit"):
        encode_ies([S.PDRID(1), VendorIE(1, 18681, b"")])
    with pytest.raises(CodecError, match="IE create_pdr longer than 65535 octets"):
        encode_ies([Grouped(T.CREATE_PDR, [RawIE(250, bytes(40000)), RawIE(250, bytes(40000))])])
    with pytest.raises(CodecError, match="longer than 65535 octets"):
        encode_ies([RawIE(250, bytes(65536))])
    assert len(encode_ies([RawIE(250, bytes(65535))])) == 65539
    with pytest.raises(struct.error):
        encode_ies([RawIE(70000, b"")])
    with pytest.raises(CodecError, match="cannot encode"):
        encode(Message(M.HEARTBEAT_REQUEST, 1, [RawIE(-1, b"")]))
    loop = Grouped(T.CREATE_PDR, [])
    loop.ies.append(loop)
    with pytest.raises(RecursionError):
        encode_ies([loop])


def test_what_an_ie_encode_raises_escapes_as_it_is() -> None:
    class Broken(RawIE):
        def encode(self) -> bytes:
            raise ZeroDivisionError("planted")

    with pytest.raises(ZeroDivisionError, match="planted"):
        encode_ies([S.PDRID(1), Grouped(T.CREATE_PDR, [Broken(250, b"")])])
