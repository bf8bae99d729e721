"""The encoding cache of `codec.encode_ies`: leaf IEs held elsewhere (the decoder's shared
instances) are re-encoded from their kept octets; the octets never change."""

from __future__ import annotations

from sample_messages import all_samples, session_establishment_request

from pfcpd.pfcp import codec, decode, encode, encode_ies
from pfcpd.pfcp import ies_scalar as S


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
