"""`establishment_key` and `far_shape` (shapes.py) are _walk.c's: over many Session
Establishment Requests (FARs with and without an outer header, IPv4 and IPv6 peers, FQ-CSIDs,
Group Ids, User IDs, other IEs, IEs set aside), the key is the one the Python functions below
(what shapes.py had before) make of each request, so it separates exactly the requests those
separated; `far_shape` gives their octets for every FAR."""

from __future__ import annotations

import random
import struct
from collections import defaultdict

import pytest

from pfcpd.pfcp import IE, Grouped, IEType, Message, decode, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_text as X
from pfcpd.pfcp.ie import RawIE
from pfcpd.session.shapes import ESTABLISHMENT_LEAVES, establishment_key, far_shape
from pfcpd.smfsim import rules as R

T = IEType
_TL = struct.Struct("!HH")
_OHC_TYPE = struct.pack("!H", T.OUTER_HEADER_CREATION)


# ---- the reference: shapes.py's functions as they were in Python --------------------------


def far_shape_reference(raw: bytes) -> bytes | None:
    unpack = _TL.unpack_from
    end = len(raw)
    at = 4
    while at < end:
        ie_type, length = unpack(raw, at)
        stop = at + 4 + length
        if ie_type == T.FORWARDING_PARAMETERS:
            inner = at + 4
            while inner < stop:
                child_type, child_length = unpack(raw, inner)
                child_stop = inner + 4 + child_length
                if child_type == T.OUTER_HEADER_CREATION:
                    cut = child_stop - inner
                    body = b"".join(
                        (
                            raw[4:at],
                            _TL.pack(ie_type, length - cut),
                            raw[at + 4 : inner],
                            raw[child_stop:],
                        )
                    )
                    return _TL.pack(unpack(raw)[0], len(body)) + body
                inner = child_stop
            return None
        at = stop
    return None


def establishment_key_reference(request: Message) -> tuple[object, ...] | None:
    if request.ignored:
        return None
    key: list[object] = []
    for ie in request.ies:
        if isinstance(ie, Grouped):
            raw = ie.raw
            if raw is None:
                return None
            shape = (
                far_shape_reference(raw) if ie.type == T.CREATE_FAR and _OHC_TYPE in raw else None
            )
            key.append(raw if shape is None else (T.OUTER_HEADER_CREATION, shape))
        elif ie.type in ESTABLISHMENT_LEAVES:
            key.append((ie.type, ie.encode()))
    return tuple(key)


# ---- requests --------------------------------------------------------------------------


def _far(rng: random.Random) -> Grouped:
    """A Create FAR: buffering, forwarding without an outer header, or with one (IPv4 or
    IPv6 peer, a few TEIDs: some repeat) first or not first among its Forwarding
    Parameters, sometimes with IEs after them; FAR ID 84 writes the octets an Outer Header
    Creation's type has."""
    far_id = rng.choice((2, 84))
    kind = rng.randrange(4)
    if kind == 0:
        return R.group(T.CREATE_FAR, S.FARID(far_id), F.ApplyAction.of("BUFF", "NOCP"))
    fp: list[IE] = [S.DestinationInterface(rng.randrange(2))]
    if kind >= 2:
        gnb = rng.choice(("192.0.2.9", "192.0.2.10", "2001:db8::9"))
        ohc = R.gnb_tunnel(rng.choice((0x100, 0x101, 0x54, 0x540054)), gnb)
        fp.insert(rng.randrange(2), ohc)
        if kind == 3:
            fp.append(X.NetworkInstance(rng.choice(("internet", "ims"))))
    ies: list[IE] = [
        S.FARID(far_id),
        F.ApplyAction.of("FORW"),
        R.group(T.FORWARDING_PARAMETERS, *fp),
    ]
    if rng.random() < 0.3:
        ies.append(S.BARID(1))
    return R.group(T.CREATE_FAR, *ies)


def _leaves(rng: random.Random) -> list[IE]:
    """FQ-CSIDs, a Group Id, a User ID, other IEs: some, in some order."""
    out: list[IE] = []
    for node_type in rng.sample((0, 1, 2), rng.randrange(3)):
        address = rng.choice(("192.0.2.1", "192.0.2.2", "2001:db8::1"))
        kind = A.FQ_CSID_IPV6 if ":" in address else A.FQ_CSID_IPV4
        csids = (rng.randrange(7, 9),)
        out.append(A.FQCSID(kind, address, csids, node_type))
    if rng.random() < 0.5:
        out.append(X.GroupID(f"g{rng.randrange(2)}"))
    if rng.random() < 0.5:  # (IMSIF, an IMSI: no part of a shape)
        out.append(RawIE(T.USER_ID, b"\x01\x08" + rng.randbytes(8)))
    if rng.random() < 0.3:
        out.append(X.APNDNN(rng.choice(("internet", "ims"))))
    if rng.random() < 0.3:
        out.append(S.PDNType(rng.randrange(1, 3)))
    if rng.random() < 0.2:
        out.append(RawIE(0x7F00 + rng.randrange(2), b"\x00"))  # (a type unknown to this release)
    rng.shuffle(out)
    return out


def _request(rng: random.Random, seq: int) -> Message:
    v6, dual = rng.random() < 0.3, rng.random() < 0.2
    qer = R.qer(mbr_kbps=rng.choice((None, (1000, 2000))))
    if rng.random() < 0.05:  # (a known IE a Create QER does not carry: set aside, no octets)
        qer.ies.append(S.PDRID(9))
    rules: list[IE] = [
        R.ul_pdr(v6=v6, dual_stack=dual),
        R.dl_pdr(v6=v6, dual_stack=dual),
        R.ul_far(),
        _far(rng),
        qer,
        R.urr(volume_threshold=rng.choice((None, 10**6))),
    ]
    if rng.random() < 0.3:
        rules.append(_far(rng))
    rules += _leaves(rng)
    if rng.random() < 0.2:
        rng.shuffle(rules)
    if rng.random() < 0.05:  # (a known IE the request does not carry: set aside)
        rules.append(S.RecoveryTimeStamp(1))
    cp = rng.choice(("127.0.0.1", "::1"))
    req = R.establishment_request("smf", cp, rng.randrange(1, 1 << 40), rules, seq=seq)
    return decode(encode(req))


def test_the_key_is_the_python_functions_key_and_separates_the_same_requests() -> None:
    rng = random.Random(14)
    requests = [_request(rng, seq) for seq in range(3000)]
    new = [establishment_key(r) for r in requests]
    old = [establishment_key_reference(r) for r in requests]
    assert new == old
    # The equivalence classes, by each key: the same partition of the requests.
    classes: dict[str, dict[object, list[int]]] = {
        "new": defaultdict(list),
        "old": defaultdict(list),
    }
    for i, (a, b) in enumerate(zip(new, old, strict=True)):
        classes["new"][a].append(i)
        classes["old"][b].append(i)
    partition = {k: sorted(v.values()) for k, v in classes.items()}
    assert partition["new"] == partition["old"]
    # (what the requests cover: shapes seen more than once, FARs with and without an outer
    # header, requests with no key)
    assert None in classes["new"]
    assert sum(len(v) > 1 for k, v in classes["new"].items() if k is not None) > 50
    assert len(classes["new"]) > 500
    shaped = [k for k in new if k and any(type(p) is tuple and p[0] == 84 for p in k)]
    assert len(shaped) > 500


def test_far_shape_gives_the_python_functions_octets() -> None:
    rng = random.Random(15)
    seen = {None: 0, bytes: 0}
    for _ in range(3000):
        raw = encode(Message(50, 0, [_far(rng)], seid=0))[16:]
        expected = far_shape_reference(raw)
        assert far_shape(raw) == expected
        seen[None if expected is None else bytes] += 1
    assert min(seen.values()) > 500
    # (no Forwarding Parameters; nothing after the TLV header)
    assert far_shape(b"\x00\x03\x00\x00") is None is far_shape_reference(b"\x00\x03\x00\x00")


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x03\x00\x08\x00\x04\x00\x05\x00\x54",  # (the Forwarding Parameters overrun)
        b"\x00\x03\x00\x06\x00\x04\x00\x02\x00\x54",  # (a child's TLV header overruns them)
        b"\x00\x03\x00\x03\x00\x04\x00",  # (a TLV header overruns the group)
    ],
)
def test_far_shape_refuses_octets_that_are_no_group(raw: bytes) -> None:
    with pytest.raises(ValueError, match="well-formed"):
        far_shape(raw)


def test_a_group_without_octets_or_ies_set_aside_make_no_key() -> None:
    req = decode(encode(R.establishment_request("smf", "127.0.0.1", 1, R.session_rules())))
    key = establishment_key(req)
    assert key is not None and key == establishment_key_reference(req)
    built = Message(req.msg_type, 0, [*req.ies, R.qer(qer_id=2)], seid=0)  # (raw None)
    assert establishment_key(built) is None
