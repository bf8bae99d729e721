"""The walk's one-call paths (_walk.c): header() under decode_header, message() under
decode_datagram and decode, encode_message() under encode (of a Message, and of an
EncodedMessage), and the encode shortcuts of the usual F-SEID/F-TEID/UE IP Address forms.
Each is compared with the general code it stands for (the same functions with the fast
paths switched off): the same headers, messages, octets, and the same errors, over every
sample message, mutations of their datagrams and odd field values."""

from __future__ import annotations

import enum
import functools
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sample_messages import all_samples

from pfcpd.pfcp import CodecError, Message, _walk, codec, decode, decode_datagram, encode
from pfcpd.pfcp.codec import encode_ies
from pfcpd.pfcp.encoded import EncodedMessage
from pfcpd.pfcp.header import Header, decode_header
from pfcpd.pfcp.ies_address import FSEID, FTEID, UEIPAddress
from pfcpd.pfcp.ies_scalar import Cause as CauseIE


@pytest.fixture
def general() -> Iterator[Callable[[], None]]:
    """Call it to switch the fast paths off (the general code then runs); they are back on
    after the test."""

    def off() -> None:
        assert _walk.setup_messages(int, int, [], (), ()) is False  # (int has no such slots)
        assert _walk.setup_encode_shortcuts({}) == []

    yield off
    codec.reload_tables()


def _outcome(f: Callable[..., Any], *args: Any) -> Any:
    try:
        return ("ok", f(*args))
    except CodecError as exc:
        decoded = getattr(exc, "decoded_before", None)
        return (
            "codec",
            str(exc),
            exc.cause,
            exc.offending_ie,
            exc.path,
            repr(exc.header),
            repr(decoded),
        )
    except Exception as exc:
        return (type(exc).__name__, str(exc))


def _deep(value: Any) -> Any:
    """Messages compared with their ignored IEs and the types of their fields."""
    if isinstance(value, list):
        return [_deep(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_deep(v) for v in value)
    if isinstance(value, Message):
        fields = (value.msg_type, value.seq, value.seid, value.priority)
        return (
            "Message",
            value,
            [type(f) for f in fields],
            [str(i) for i in value.ignored],
            type(value.ignored),
            type(value.ies),
        )
    if isinstance(value, Header):
        return ("Header", value, [type(getattr(value, f)) for f in Header.__slots__])
    return value


def _datagrams() -> list[bytes]:
    rng = random.Random(11)
    out = []
    for msg in all_samples():
        data = encode(msg)
        out.append(data)
        out.append(data[: rng.randrange(len(data))])  # truncated
        for _ in range(12):
            mutated = bytearray(data)
            for _ in range(rng.randrange(1, 4)):
                at = rng.randrange(min(len(data), 24) if rng.random() < 0.7 else len(data))
                mutated[at] = rng.randrange(256)
            out.append(bytes(mutated))
    # Header corners: versions, S/MP/FO flags, lengths, unknown types, piggybacked messages.
    body = bytes.fromhex("0060000400000001")  # Recovery Time Stamp
    for flags in range(256):
        for msg_type in (1, 2, 4, 50, 51, 58, 255):
            seq_part = bytes.fromhex("00000700")
            seid_part = bytes(8) if flags & 1 else b""
            length = len(seid_part) + 4 + len(body)
            head = bytes((flags, msg_type)) + length.to_bytes(2, "big")
            out.append(head + seid_part + seq_part + body)
            out.append(head + seid_part + seq_part + body + body)  # trailing octets
            out.append(head + seid_part + seq_part)  # body missing
    return out


def test_header_as_the_general_code(general: Callable[[], None]) -> None:
    datagrams = _datagrams()
    offsets = (0, 1, 4, 8, 16)
    fast = [_deep(_outcome(decode_header, d, o)) for d in datagrams for o in offsets]
    assert any(o[0] == "ok" for o in fast) and any(o[0] == "codec" for o in fast)
    general()
    assert _walk.header(datagrams[0]) is None  # (off)
    slow = [_deep(_outcome(decode_header, d, o)) for d in datagrams for o in offsets]
    assert fast == slow


def test_decode_as_the_general_code(general: Callable[[], None]) -> None:
    datagrams = _datagrams()

    def datagram(data: bytes) -> Any:
        header = decode_header(data)
        return decode_datagram(data, header)

    def runs() -> list[Any]:
        return [
            (
                _deep(_outcome(decode, d)),
                _deep(_outcome(datagram, d)),
                _deep(_outcome(decode_datagram, d)),
            )
            for d in datagrams
        ]

    fast = runs()
    assert sum(run[0][0] == "ok" for run in fast) > 100
    general()
    assert fast == runs()


def test_decode_datagram_of_one_message_in_one_call() -> None:
    """decode_datagram (_walk.c) decodes a datagram of one message (no FO) whose Header the
    walk made without its general code (codec._decode_datagram, a Python frame), and hands
    every other call to that code with the same arguments: the same messages and errors
    (their header and decoded_before included) as the general code, over every sample and
    mutation."""
    calls: list[tuple[Any, ...]] = []

    def general(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return codec._decode_datagram(*args, **kwargs)

    usual: list[str] = []  # (the outcomes of the one-call path: "ok", "codec")
    _walk.setup_datagram(general)
    try:
        for d in _datagrams():
            header = _walk.header(d)
            for args, kwargs in (((d, header), {}), ((d,), {}), ((d,), {"header": header})):
                before = len(calls)
                fast = _deep(_outcome(functools.partial(decode_datagram, *args, **kwargs)))
                one_call = len(args) == 2 and header is not None and not header.follow_on
                assert len(calls) == before + (0 if one_call else 1)
                if one_call:
                    usual.append(fast[0])
                slow = _deep(_outcome(functools.partial(codec._decode_datagram, *args, **kwargs)))
                assert fast == slow
    finally:
        codec.reload_tables()
        _walk.setup_datagram(codec._decode_datagram)
    assert usual.count("ok") > 100 and usual.count("codec") > 100, usual
    with pytest.raises(TypeError):
        _walk.setup_datagram(5)  # type: ignore[arg-type]


class _Type(enum.IntEnum):
    ESTABLISHMENT_RESPONSE = 51
    HEARTBEAT_REQUEST = 1


def _messages() -> list[tuple[Message, bool]]:
    out: list[tuple[Message, bool]] = []
    for msg in all_samples():
        out.append((msg, False))
        out.append((msg, True))
        for field, values in (
            ("seq", [0, 0xFFFFFF, 0x1000000, -1, True, 2.0, None]),
            ("priority", [None, 0, 15, 16]),
            ("seid", [None, 0, 2**64 - 1, 2**64, -1, "x"]),
            ("msg_type", [0, 255, 256, _Type.ESTABLISHMENT_RESPONSE, -1, "x"]),
        ):
            for value in values:
                odd = Message(msg.msg_type, msg.seq, list(msg.ies), msg.seid, msg.priority)
                setattr(odd, field, value)
                out.append((odd, False))
    # Datagrams longer than 65535 octets (a Cause IE is 5 octets), and one just short of it.
    big = Message(1, 1, [CauseIE(1)] * 13_200)
    out += [(big, False), (Message(51, 1, [CauseIE(1)] * 13_200, 5), False)]
    out += [(Message(1, 1, [CauseIE(1)] * 13_105), False)]
    return out


def test_messages_made_in_c_only_for_the_fields_it_sets() -> None:
    """A Header or Message with fields the C code does not know (or lacks) is made by the
    dataclass, not in C: the set-up refuses it."""
    import dataclasses

    header = tuple(f.name for f in dataclasses.fields(Header))
    message = tuple(f.name for f in dataclasses.fields(Message))
    try:
        assert _walk.setup_messages(Header, Message, [1], (*header, "extra"), message) is False
        assert _walk.header(b"\x20\x01\x00\x04\x00\x00\x01\x00") is None
        assert _walk.setup_messages(Header, Message, [1], header, message[:-1]) is False
        assert _walk.setup_messages(Header, Message, [1], header, message) is True
        assert isinstance(_walk.header(b"\x20\x01\x00\x04\x00\x00\x01\x00"), Header)
    finally:
        codec.reload_tables()


def test_encode_as_the_general_code(general: Callable[[], None]) -> None:
    messages = _messages()

    def runs() -> list[Any]:
        return [_outcome(encode, msg, follow_on) for msg, follow_on in messages]

    fast = runs()
    assert sum(o[0] == "ok" for o in fast) > 100
    general()
    assert fast == runs()


def _encoded_messages() -> list[tuple[EncodedMessage, bool]]:
    """EncodedMessages (answers made as their octets) with usual and odd header fields and
    bodies, each with follow_on False and True; one whose IEs were read since."""
    cause = CauseIE(1)
    tlv = encode_ies([cause])
    out: list[EncodedMessage] = []
    for msg_type in (51, 1, 2, 50, 57, 99, 255, 256, -1):
        for seid in (None, 0, 0x1122334455667788, 2**64 - 1, 2**64, -1):
            for seq in (0, 1, 0xFFFFFF, 0x1000000, -1):
                out.append(EncodedMessage(msg_type, seq, seid, tlv, (cause,)))
    for body in (b"", tlv * 3, b"\x00" * (0xFFFF - 12), b"\x00" * (0xFFFF - 11), b"\x00" * 0xFFFF):
        for seid in (None, 7):
            out.append(EncodedMessage(51 if seid else 1, 9, seid, body, ()))
    odd: list[Any] = [True, 2.0, "3", None]
    for value in odd:
        out.append(EncodedMessage(value, 5, 7, tlv, ()))
        out.append(EncodedMessage(51, value, 7, tlv, ()))
        out.append(EncodedMessage(51, 5, value if value is not None else "7", tlv, ()))
    for priority in (0, 15, 16, -1):
        msg = EncodedMessage(51, 5, 7, tlv, ())
        msg.priority = priority
        out.append(msg)
    read = EncodedMessage(51, 5, 7, tlv, (cause,))
    assert read.ies == [cause]  # (its body is None from now on: its IEs are encoded)
    out.append(read)
    body = EncodedMessage(51, 5, 7, tlv, ())
    body.body = bytearray(tlv)  # type: ignore[assignment]  (not bytes: the general code)
    out.append(body)
    return [(msg, follow_on) for msg in out for follow_on in (False, True)]


def test_encode_of_encoded_messages_as_the_general_code(general: Callable[[], None]) -> None:
    """An EncodedMessage's datagram (setup_encoded): its header and body octets, in one call,
    as the general code makes them (header_octets and the body), with the same errors."""
    messages = _encoded_messages()
    taken = sum(_walk.encode_message(msg, f) is not None for msg, f in messages)
    fast = [_outcome(encode, msg, follow_on) for msg, follow_on in messages]
    assert sum(o[0] == "ok" for o in fast) > 100
    assert taken > 100
    general()
    assert all(_walk.encode_message(msg, f) is None for msg, f in messages)
    assert fast == [_outcome(encode, msg, follow_on) for msg, follow_on in messages]


def test_setup_encoded_needs_a_message_class_with_a_body_slot() -> None:
    class NoBody(Message):
        __slots__ = ("other",)

    try:
        assert _walk.setup_encoded(NoBody) is False
        assert _walk.setup_encoded(int) is False
        msg = EncodedMessage(51, 5, 7, b"", ())
        assert _walk.encode_message(msg, False) is None
        assert _walk.setup_encoded(EncodedMessage) is True
        assert _walk.encode_message(msg, False) == encode(msg)
    finally:
        codec.reload_tables()


def test_setup_messages_forgets_the_encoded_class() -> None:
    """encode_message reads an EncodedMessage through the Message class's slot offsets:
    a setup_messages (whatever its class) drops the EncodedMessage set up before, until
    setup_encoded is called again, so no instance is read through another layout's."""
    import dataclasses

    header = tuple(f.name for f in dataclasses.fields(Header))
    message = tuple(f.name for f in dataclasses.fields(Message))
    msg = EncodedMessage(51, 5, 7, b"", ())
    try:
        assert _walk.encode_message(msg, False) == encode(msg)
        assert _walk.setup_messages(Header, Message, [1], header, message) is True
        assert _walk.encode_message(msg, False) is None
        assert _walk.setup_encoded(EncodedMessage) is True
        assert _walk.encode_message(msg, False) == encode(msg)
    finally:
        codec.reload_tables()


_V4 = [
    "192.0.2.1",
    "0.0.0.0",
    "255.255.255.255",
    "10.0.0.10",
    "1.22.133.4",
    "01.2.3.4",
    "1.2.3.04",
    "256.1.1.1",
    "1.2.3",
    "1.2.3.4.",
    ".1.2.3",
    "1..2.3",
    "1.2.3.4 ",
    " 1.2.3.4",
    "\uff11.2.3.4",
    "1.2.3.4\x00",
    "",
    "::1",
    "1.2.3.1000",
    None,
    b"1.2.3.4",
    7,
]


def _address_ies() -> list[Any]:
    ies: list[Any] = []
    ints = [0, 1, 0xFFFFFFFF, 0x100000000, 2**64 - 1, 2**64, -1, True, None, 2.5, "1"]
    for v4 in _V4:
        for v6 in (None, "2001:db8::1"):
            for n in ints:
                ies.append(FSEID(n, v4, v6))  # type: ignore[arg-type]
                for choose in (False, True, 0, None):
                    ies.append(FTEID(n, v4, v6, choose, True, False, 3))  # type: ignore[arg-type]
            for source in (False, True, 0, 1, None):
                for choose_v4 in (False, True, 1):
                    for choose_v6 in (False, True, 0):
                        ies.append(UEIPAddress(v4, v6, source, None, None, choose_v4, choose_v6))  # type: ignore[arg-type]
            ies.append(UEIPAddress(v4, v6, True, 4, None))
            ies.append(UEIPAddress(v4, v6, True, None, 64))
    return ies


def test_encode_shortcuts_as_the_general_code(general: Callable[[], None]) -> None:
    ies = _address_ies()
    assert sorted(_walk.setup_encode_shortcuts({})) == []  # (off, then on again)
    codec.reload_tables()
    fast = [_outcome(codec.encode_ies, [ie]) for ie in ies]
    fast.append(_outcome(codec.encode_ies, ies[:50]))
    assert sum(o[0] == "ok" for o in fast) > 300
    general()
    slow = [_outcome(codec.encode_ies, [ie]) for ie in ies]
    slow.append(_outcome(codec.encode_ies, ies[:50]))
    assert fast == slow


def test_encode_shortcuts_cover_the_address_ies() -> None:
    classes = {
        int(t): (cls, tuple(cls.__dataclass_fields__))  # type: ignore[attr-defined]
        for t, cls in codec.ENCODE_SHORTCUTS.items()
    }
    try:
        assert sorted(_walk.setup_encode_shortcuts(classes)) == sorted(classes)
        fewer = {t: (c, names[:-1]) for t, (c, names) in classes.items()}
        assert _walk.setup_encode_shortcuts(fewer) == []  # (fields as expected, else none)
    finally:
        codec.reload_tables()
