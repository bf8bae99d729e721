"""Property tests: decode(encode(m)) == m for generated messages; arbitrary and mutated bytes
never raise anything but CodecError."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sample_messages import all_samples

from pfcpd.pfcp import (
    CodecError,
    Grouped,
    Message,
    VendorIE,
    codec,
    decode,
    decode_datagram,
    decode_ies,
    encode,
    encode_ies,
)
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.pfcp.grouped import ALLOWED_CHILDREN, GROUPED_TYPES
from pfcpd.pfcp.ie import RawIE
from pfcpd.pfcp.ie_types import IEType
from pfcpd.pfcp.messages import ALLOWED_IES, MANDATORY_IES

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
v4 = st.ip_addresses(v=4).map(str)
# Canonical text as inet_ntop writes it (the codec's form), e.g. "::ffff:0.0.0.0".
v6 = st.ip_addresses(v=6).map(lambda a: socket.inet_ntop(socket.AF_INET6, a.packed))
label = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
dns_name = st.lists(label, min_size=1, max_size=4).map(".".join)
text = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=40)

leaf_ies = st.one_of(
    u8.map(S.Cause),
    st.integers(0, 15).map(S.SourceInterface),
    st.integers(0, 63).map(S.QFI),
    u16.map(S.PDRID),
    u32.map(S.FARID),
    u32.map(S.Precedence),
    u32.map(S.RecoveryTimeStamp),
    st.builds(S.Timer, st.integers(0, 7), st.integers(0, 31)),
    st.builds(S.DLBufferingSuggestedPacketCount, u16, st.just(2)),
    st.builds(A.NodeID, st.just(0), v4),
    st.builds(A.NodeID, st.just(1), v6),
    st.builds(A.NodeID, st.just(2), dns_name, st.booleans()),
    st.builds(A.FSEID, u64, st.one_of(st.none(), v4), v6),
    st.builds(A.FSEID, u64, v4, st.one_of(st.none(), v6)),
    st.builds(A.FTEID, u32, v4, st.one_of(st.none(), v6)),
    st.builds(
        A.FTEID,
        choose=st.just(True),
        choose_v4=st.booleans(),
        choose_v6=st.booleans(),
        choose_id=st.one_of(st.none(), u8),
    ),
    st.builds(
        A.UEIPAddress,
        st.one_of(st.none(), v4),
        st.one_of(st.none(), v6),
        st.booleans(),
        st.one_of(st.none(), u8),
        st.one_of(st.none(), u8),
        st.booleans(),
        st.booleans(),
    ),
    st.builds(A.OuterHeaderCreation, st.just(A.OHC_GTPU_UDP_IPV4), u32, v4),
    st.builds(A.OuterHeaderCreation, st.just(A.OHC_UDP_IPV6), st.none(), st.none(), v6, u16),
    st.builds(A.RemoteGTPUPeer, st.one_of(st.none(), v4), st.one_of(st.none(), v6)),
    st.builds(X.NetworkInstance, dns_name, st.booleans()),
    st.builds(X.APNDNN, dns_name, st.booleans()),
    st.builds(X.ApplicationID, text),
    st.builds(X.UEIPAddressPoolIdentity, text),
    st.builds(
        TR.SDFFilter,
        st.one_of(st.none(), text),
        st.one_of(st.none(), u16),
        st.one_of(st.none(), u32),
        st.one_of(st.none(), st.integers(0, 0xFFFFF)),
        st.one_of(st.none(), u32),
    ),
    st.builds(TR.GateStatus, st.integers(0, 3), st.integers(0, 3)),
    st.builds(TR.MBR, st.integers(0, 2**40 - 1), st.integers(0, 2**40 - 1)),
    st.builds(TR.VolumeThreshold, st.one_of(st.none(), u64), st.one_of(st.none(), u64)),
    st.builds(
        TR.VolumeMeasurement,
        *[st.one_of(st.none(), u64)] * 6,
    ),
    st.builds(TR.OuterHeaderRemoval, u8, st.one_of(st.none(), u8)),
    st.builds(TR.FailedRuleID, st.just(0), u16),
    st.builds(TR.RedirectInformation, st.integers(0, 4), text, st.one_of(st.none(), text)),
    st.builds(F.ApplyAction, u16, st.sampled_from([2])),
    st.builds(F.ReportingTriggers, st.integers(0, 0xFFFFFF), st.just(3)),
    st.builds(F.UPFunctionFeatures, st.integers(0, 2**48 - 1), st.just(6)),
    st.builds(
        A.FQCSID,
        st.just(A.FQ_CSID_IPV4),
        v4,
        st.lists(u16, max_size=15).map(tuple),
        st.one_of(st.none(), st.integers(0, 15)),
    ),
    st.builds(
        A.FQCSID, st.just(A.FQ_CSID_IPV6), v6, st.lists(u16, min_size=1, max_size=3).map(tuple)
    ),
    st.builds(A.CPIPAddress, st.one_of(st.none(), v4), st.one_of(st.none(), v6)),
    st.builds(X.GroupID, text),
    st.builds(X.SMFSetID, dns_name, st.booleans()),
    st.builds(F.MeasurementInformation, u8),
    st.builds(RawIE, st.sampled_from([150, 152, 141]), st.binary(max_size=20)),
    st.builds(VendorIE, st.integers(0x8000, 0xFFFF), u16, st.binary(max_size=20)),
)


def grouped(children: st.SearchStrategy) -> st.SearchStrategy:
    # Grouped types with no mandatory child keep generated groups valid.
    empty_ok = [IEType.UPDATE_FORWARDING_PARAMETERS, IEType.UPDATE_DUPLICATING_PARAMETERS]
    return st.builds(Grouped, st.sampled_from(empty_ok), st.lists(children, max_size=4))


any_ie = st.recursive(leaf_ies, grouped, max_leaves=12)

no_mandatory_types = [t for t, req in MANDATORY_IES.items() if not req]


@st.composite
def messages(draw: st.DrawFn) -> Message:
    msg_type = draw(st.sampled_from(no_mandatory_types))
    seid = draw(u64) if 50 <= msg_type <= 57 else None
    priority = draw(st.one_of(st.none(), st.integers(0, 15)))
    return Message(
        msg_type, draw(st.integers(0, 0xFFFFFF)), draw(st.lists(any_ie, max_size=8)), seid, priority
    )


@contextlib.contextmanager
def any_ie_anywhere() -> Iterator[None]:
    """Lift the tables of expected IEs, so that generated IEs are decoded wherever they sit."""
    saved = dict(ALLOWED_IES), dict(ALLOWED_CHILDREN)
    ALLOWED_IES.clear()
    ALLOWED_CHILDREN.clear()
    codec.reload_tables()
    try:
        yield
    finally:
        ALLOWED_IES.update(saved[0])
        ALLOWED_CHILDREN.update(saved[1])
        codec.reload_tables()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_roundtrip(msg: Message) -> None:
    data = encode(msg)
    decoded = decode(data)
    if not decoded.ignored:  # else IEs were not expected where the generator put them
        assert decoded == msg
    with any_ie_anywhere():
        assert decode(data) == msg


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_codec_error(data: bytes) -> None:
    with contextlib.suppress(CodecError):
        decode_datagram(data)


SAMPLE_BYTES = [encode(m) for m in all_samples()]


@settings(max_examples=2000, deadline=None)
@given(
    st.sampled_from(SAMPLE_BYTES),
    st.lists(st.tuples(st.integers(0, 10_000), u8), min_size=1, max_size=6),
    st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_mutated_samples_only_codec_error(
    data: bytes, flips: list[tuple[int, int]], cut: int | None
) -> None:
    buf = bytearray(data)
    for pos, val in flips:
        buf[pos % len(buf)] = val
    if cut is not None:
        del buf[cut % len(buf) :]
    try:
        decode_datagram(bytes(buf))
    except CodecError as exc:
        assert exc.cause is None or exc.cause in (64, 66, 67, 68, 69)


def test_every_grouped_type_decodes_as_grouped() -> None:
    for ie_type in GROUPED_TYPES:
        data = encode_ies([Grouped(ie_type, [])])
        try:
            decoded = decode_ies(data, 0, len(data))
        except CodecError as exc:
            assert exc.cause == 66  # an empty group misses its mandatory children
            continue
        assert decoded == [Grouped(ie_type, [])]
