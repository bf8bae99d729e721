"""Header fields, and the cause + offending IE the codec reports for bad input."""

from __future__ import annotations

import struct

import pytest
from sample_messages import all_samples, session_establishment_request, tlv

from pfcpd.pfcp import (
    Cause,
    CodecError,
    Grouped,
    IEType,
    Message,
    MessageType,
    RawIE,
    codec,
    decode,
    decode_datagram,
    decode_ies,
    encode,
    encode_datagram,
)
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp.grouped import ALLOWED_CHILDREN
from pfcpd.pfcp.header import decode_header, encode_header

HB = Message(MessageType.HEARTBEAT_REQUEST, 0x010203, [S.RecoveryTimeStamp(5)])


def node_msg(msg_type: int, body: bytes, seq: int = 7, version: int = 1) -> bytes:
    return (
        struct.pack("!BBH", version << 5, msg_type, 4 + len(body))
        + (seq << 8).to_bytes(4, "big")
        + body
    )


def session_msg(msg_type: int, body: bytes, seid: int = 9, seq: int = 7) -> bytes:
    return (
        struct.pack("!BBH", 0x21, msg_type, 12 + len(body))
        + seid.to_bytes(8, "big")
        + (seq << 8).to_bytes(4, "big")
        + body
    )


def test_header_fields_on_the_wire() -> None:
    data = encode(HB)
    assert data[:8] == bytes([0x20, 1, 0, 12, 1, 2, 3, 0])
    prio = encode(Message(MessageType.SESSION_DELETION_REQUEST, 5, [], seid=0xAB, priority=9))
    assert prio[0] == 0x23  # version 1, MP, S
    assert prio[4:12] == (0xAB).to_bytes(8, "big")
    assert prio[12:16] == bytes([0, 0, 5, 0x90])
    assert decode(prio).priority == 9


def test_follow_on_piggybacked_messages() -> None:
    report = Message(
        MessageType.SESSION_REPORT_REQUEST,
        3,
        [RawIE(IEType.REPORT_TYPE, b"\x01"), Grouped(IEType.DOWNLINK_DATA_REPORT, [S.PDRID(1)])],
        seid=1,
    )
    resp = Message(MessageType.SESSION_MODIFICATION_RESPONSE, 4, [S.Cause(1)], seid=1)
    data = encode_datagram([resp, report])
    assert data[0] & 0x04 and not data[len(encode(resp))] & 0x04
    decoded = decode_datagram(data)
    assert [m.msg_type for m in decoded] == [53, 56]
    assert decode(data).msg_type == 53


def test_session_message_needs_seid_to_encode() -> None:
    with pytest.raises(CodecError):
        encode(Message(MessageType.SESSION_DELETION_REQUEST, 1, []))


@pytest.mark.parametrize(("seq", "priority"), [(-1, None), (0x1000000, None), (1, 16), (1, -1)])
def test_sequence_number_and_priority_out_of_range_do_not_encode(
    seq: int, priority: int | None
) -> None:
    with pytest.raises(CodecError):
        encode(Message(MessageType.SESSION_DELETION_REQUEST, seq, [], seid=1, priority=priority))


def test_the_encoder_writes_the_header_encode_header_writes() -> None:
    """encode() writes its header without a Header object: the same octets."""
    cases = [
        (HB, False),
        (Message(MessageType.SESSION_DELETION_REQUEST, 0xFFFFFF, [], seid=2**64 - 1), True),
        (Message(MessageType.SESSION_REPORT_REQUEST, 0, [], seid=0, priority=15), False),
        (Message(MessageType.HEARTBEAT_RESPONSE, 7, [], priority=3), True),
    ]
    for msg, follow_on in cases:
        data = encode(msg, follow_on=follow_on)
        header = decode_header(data)
        assert (header.seid, header.priority, header.follow_on) == (
            msg.seid,
            msg.priority,
            follow_on,
        )
        assert data[: header.header_len] == encode_header(header, len(data) - header.header_len)


def test_a_session_header_packs_as_its_two_parts() -> None:
    """header_octets packs a session message's header in one struct: the octets, and the
    error for a field out of range, are what packing its first 4 octets then SEID and
    sequence number gives."""
    from pfcpd.pfcp.header import header_octets

    first4, seid_seq = struct.Struct("!BBH"), struct.Struct("!QI")

    def parts(msg_type: object, seq: int, seid: object, priority: int | None, n: int) -> bytes:
        flags, last = (0x23, priority << 4) if priority is not None else (0x21, 0)
        return first4.pack(flags, msg_type, 12 + n) + seid_seq.pack(seid, (seq << 8) | last)

    def outcome(fn: object, *args: object) -> object:
        try:
            return fn(*args)  # type: ignore[operator]
        except Exception as exc:
            return (type(exc), str(exc))

    checked = 0
    for msg_type in (0, 51, 255, 256, -1, "x"):
        for seid in (0, 1, 2**64 - 1, 2**64, -1, "s"):
            for priority in (None, 0, 15):
                for n in (0, 100, 65523, 65524, -13):
                    got = outcome(header_octets, msg_type, 0xABCDEF, seid, priority, False, n)
                    assert got == outcome(parts, msg_type, 0xABCDEF, seid, priority, n)
                    checked += 1
    assert checked == 540


@pytest.mark.parametrize("data", [b"", b"\x20", b"\x20\x01\x00"])
def test_too_short_for_a_header_is_dropped(data: bytes) -> None:
    with pytest.raises(CodecError) as err:
        decode(data)
    assert err.value.cause is None and err.value.header is None


def test_short_datagram_of_another_version_is_dropped() -> None:
    with pytest.raises(CodecError) as err:
        decode(bytes([0x40, 1, 0, 2, 0, 0]))
    assert err.value.header is None and err.value.cause is None


def test_piggybacked_messages_before_a_bad_one_are_kept() -> None:
    resp = Message(MessageType.SESSION_MODIFICATION_RESPONSE, 4, [S.Cause(1)], seid=1)
    data = encode(resp, follow_on=True) + session_msg(56, b"")  # report request lacks Report Type
    with pytest.raises(CodecError) as err:
        decode_datagram(data)
    assert err.value.decoded_before == [resp]
    assert err.value.offending_ie == IEType.REPORT_TYPE


def test_version_2_is_flagged_for_version_not_supported() -> None:
    data = node_msg(1, tlv(96, b"\0\0\0\1"), seq=55, version=2)
    with pytest.raises(CodecError) as err:
        decode(data)
    assert err.value.version_not_supported
    assert err.value.header is not None and err.value.header.seq == 55
    assert err.value.cause is None


def test_unknown_message_type_is_dropped_with_its_header() -> None:
    with pytest.raises(CodecError) as err:
        decode(node_msg(99, b""))
    assert err.value.cause is None
    assert err.value.header is not None and err.value.header.msg_type == 99


def test_length_beyond_datagram_is_invalid_length() -> None:
    data = encode(HB)[:-2]
    with pytest.raises(CodecError) as err:
        decode(data)
    assert err.value.cause == Cause.INVALID_LENGTH


def test_missing_mandatory_ie_of_message() -> None:
    data = node_msg(5, tlv(60, b"\x00\x7f\x00\x00\x02"))  # association setup without recovery ts
    with pytest.raises(CodecError) as err:
        decode(data)
    exc = err.value
    assert exc.cause == Cause.MANDATORY_IE_MISSING
    assert exc.offending_ie == IEType.RECOVERY_TIME_STAMP
    assert exc.header is not None and (exc.header.msg_type, exc.header.seq) == (5, 7)


def test_missing_mandatory_ie_inside_grouped_ie() -> None:
    msg = session_establishment_request()
    pdr = msg.get(IEType.CREATE_PDR)
    assert isinstance(pdr, Grouped)
    pdr.ies = [ie for ie in pdr.ies if ie.type != IEType.PDI]
    with pytest.raises(CodecError) as err:
        decode(encode(msg))
    assert err.value.cause == Cause.MANDATORY_IE_MISSING
    assert err.value.offending_ie == IEType.PDI
    assert err.value.path == ("create_pdr",)


@pytest.mark.parametrize(
    ("dropped", "offending"),
    [
        ({IEType.PDR_ID, IEType.PRECEDENCE, IEType.PDI}, IEType.PDI),  # 56, 29, 2
        ({IEType.PDR_ID, IEType.PRECEDENCE}, IEType.PRECEDENCE),
        ({IEType.PDR_ID}, IEType.PDR_ID),
    ],
)
def test_the_lowest_missing_mandatory_type_is_the_offending_ie(
    dropped: set[int], offending: int
) -> None:
    msg = session_establishment_request()
    pdr = msg.get(IEType.CREATE_PDR)
    assert isinstance(pdr, Grouped)
    pdr.ies = [ie for ie in pdr.ies if ie.type not in dropped]
    with pytest.raises(CodecError) as err:
        decode(encode(msg))
    assert err.value.cause == Cause.MANDATORY_IE_MISSING
    assert err.value.offending_ie == offending


def test_ie_overrunning_its_group_is_invalid_length() -> None:
    inner = tlv(56, b"\x00\x01")[:-1]  # PDR ID claims 2 octets, the group holds 1
    body = tlv(60, b"\x00\x7f\x00\x00\x02") + tlv(15, inner)
    with pytest.raises(CodecError) as err:
        decode(session_msg(52, body))
    assert err.value.cause == Cause.INVALID_LENGTH
    assert err.value.offending_ie == IEType.PDR_ID
    assert err.value.path == ("remove_pdr",)


def test_short_mandatory_ie_value_is_invalid_length() -> None:
    with pytest.raises(CodecError) as err:
        decode(node_msg(1, tlv(96, b"\x00\x01")))
    assert (err.value.cause, err.value.offending_ie) == (Cause.INVALID_LENGTH, 96)


def test_incorrect_mandatory_ie_is_69_and_optional_is_treated_as_absent() -> None:
    """TS 29.244 clause 7.6.8: an incorrect mandatory IE fails the request (69); an incorrect
    optional one is discarded, the rest of the message processed, and the IE reported."""
    bad_node_id = tlv(60, b"\x07abc")  # Node ID type 7 does not exist
    ts = tlv(96, b"\0\0\0\1")
    with pytest.raises(CodecError) as err:
        decode(node_msg(5, bad_node_id + ts))
    assert (err.value.cause, err.value.offending_ie) == (Cause.MANDATORY_IE_INCORRECT, 60)
    bad_fteid = tlv(21, b"\x08\x00\x00\x00\x01")  # CHID without CH
    msg = decode(session_msg(52, tlv(127, tlv(131, b"\x01") + bad_fteid)))
    endpoint = msg.get(IEType.CREATE_TRAFFIC_ENDPOINT)
    assert isinstance(endpoint, Grouped)
    assert [ie.type for ie in endpoint.ies] == [IEType.TRAFFIC_ENDPOINT_ID]
    (ignored,) = msg.ignored
    assert ignored.path == ("create_traffic_endpoint",)
    assert ignored.ie == RawIE(IEType.F_TEID, b"\x08\x00\x00\x00\x01")
    assert "CHID" in ignored.reason


def test_nesting_depth_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spec's tables allow no deep nesting; the bound protects groups without a table."""
    monkeypatch.delitem(ALLOWED_CHILDREN, IEType.UPDATE_FORWARDING_PARAMETERS)
    codec.reload_tables()
    value = tlv(56, b"\x00\x01")
    for _ in range(40):
        value = tlv(11, value)  # Update Forwarding Parameters inside itself
    try:
        with pytest.raises(CodecError) as err:
            decode_ies(value, 0, len(value))
        assert err.value.cause == Cause.REQUEST_REJECTED
    finally:
        monkeypatch.undo()
        codec.reload_tables()


def test_unknown_and_vendor_ies_reencode_byte_for_byte() -> None:
    body = tlv(96, b"\0\0\0\1") + tlv(999, b"\x01\x02") + tlv(0x8123, b"\x48\xf9payload")
    data = node_msg(1, body)
    msg = decode(data)
    assert encode(msg) == data
    assert msg.ies[1] == RawIE(999, b"\x01\x02")
    vendor = msg.ies[2]
    assert (vendor.type, vendor.enterprise_id, vendor.data) == (0x8123, 0x48F9, b"payload")


@pytest.mark.parametrize(
    ("wire", "name", "labels"),
    [(b"\x08internet", "internet", True), (b"internet", "internet", False),
     (b"\x03ims\x03mnc\x03org", "ims.mnc.org", True), (b"ims.mnc.org", "ims.mnc.org", False)],
)  # fmt: skip
def test_network_instance_keeps_the_form_it_arrived_in(
    wire: bytes, name: str, labels: bool
) -> None:
    data = session_msg(52, tlv(127, tlv(131, b"\x01") + tlv(22, wire)))  # Create Traffic Endpoint
    msg = decode(data)
    assert msg.ies[0].ies[1] == X.NetworkInstance(name, labels)  # type: ignore[attr-defined]
    assert encode(msg) == data


def test_fqdn_node_id_text_form_kept() -> None:
    data = node_msg(5, tlv(96, b"\0\0\0\1") + tlv(60, b"\x02smf.example"))
    msg = decode(data)
    assert msg.ies[1] == A.NodeID(2, "smf.example", dns_labels=False)
    assert encode(msg) == data


def test_timer_rounds_up_when_asked() -> None:
    with pytest.raises(ValueError):
        S.Timer.from_seconds(61)
    assert S.Timer.from_seconds(61, round_up=True) == S.Timer(0, 31)  # 62 s
    assert S.Timer.from_seconds(5000, round_up=True).seconds == 5400  # 9 x 10 min
    assert S.Timer.from_seconds(10**7, round_up=True).seconds is None  # beyond 310 hours


def test_decode_datagram_with_a_header_already_decoded() -> None:
    from pfcpd.pfcp import decode_header

    data = encode(HB)
    assert decode_datagram(data, decode_header(data)) == [HB]


def test_timer_coding() -> None:
    assert S.Timer.from_seconds(20).encode() == bytes([0 << 5 | 10])
    assert S.Timer.from_seconds(600).seconds == 600
    assert S.Timer(7, 0).seconds is None
    assert S.Timer(6, 3).seconds == 180  # unknown units count in minutes


def test_every_sample_roundtrips() -> None:
    for msg in all_samples():
        assert decode(encode(msg)) == msg


def test_cacheable_ie_classes_are_immutable() -> None:
    """The decoder shares one instance of a cacheable IE between messages: it must be frozen."""
    import dataclasses

    from pfcpd.pfcp.ie import DECODERS

    for decoder in DECODERS.values():
        cls = decoder.__self__  # type: ignore[attr-defined]
        if cls.CACHEABLE:
            assert cls.__dataclass_params__.frozen, cls.__name__
    with pytest.raises(dataclasses.FrozenInstanceError):
        S.PDRID(1).value = 2  # type: ignore[misc]
