"""The Session Establishment Response of a shape's sessions, as octets (`AnswerTemplate`).

The sessions of an `EstablishmentShape` with a `FillPlan` are answered with the same IEs
but for their own values: Node ID, Cause (accepted), the UP F-SEID (its SEID) and a Created
PDR per PDR with something chosen, holding its PDR ID and the F-TEIDs (their TEIDs) and UE
IP Addresses (their IPv4 addresses) chosen for it, in `FillPlan.created`'s order. An
`AnswerTemplate` is those IEs' octets around the values: the answer of a session is its
values' octets (the allocations' octets `SessionEngine._fill` takes, its SEID's) joined
with them, with no IE object built or encoded (`pfcp.encoded.EncodedMessage`). Made once
per shape and checked then: filled in with the values of the session the shape was learnt
from, it gives the octets encoding that session's answer gave (`answer_template`).
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable, Sequence
from typing import NamedTuple

from ..pfcp import IE, IEType, encode_ies
from ..pfcp.encoded import EncodedMessage
from ..pfcp.ies_address import FSEID, FTEID, NodeID, UEIPAddress
from ..pfcp.message_types import MessageType
from .shapes import FillPlan

T = IEType
_TL = struct.Struct("!HH")
_pack_u64 = struct.Struct("!Q").pack
_RESPONSE = MessageType.SESSION_ESTABLISHMENT_RESPONSE


class AnswerTemplate(NamedTuple):
    """The octets of the answers to a shape's establishments (see the module's doc): picked
    (``order``) from [the octets of each allocation of `FillPlan.takes`, the UP SEID's,
    then ``constants``]. ``node_id``: the Node ID object the answers name (the node hands
    the engine one: another one, and the answer is made the ordinary way); ``head``: the
    answers' first IEs (Node ID, Cause) as objects (`EncodedMessage.head`)."""

    node_id: NodeID
    head: tuple[IE, ...]
    order: Callable[[list[bytes]], tuple[bytes, ...]]
    constants: tuple[bytes, ...]

    def body(self, values: Sequence[bytes], up_seid: int) -> bytes:
        """The answer's IEs' octets for a session of allocations' octets ``values``."""
        parts = [*values, _pack_u64(up_seid), *self.constants]
        return b"".join(self.order(parts))

    def answer(
        self, seq: int, cp_seid: int, values: Sequence[bytes], up_seid: int
    ) -> EncodedMessage:
        """The Session Establishment Response (sequence number ``seq``, to the CP's SEID
        ``cp_seid``) of a session of allocations' octets ``values`` and SEID ``up_seid``."""
        parts = [*values, _pack_u64(up_seid), *self.constants]  # (`body`, inline)
        body = b"".join(self.order(parts))
        return EncodedMessage(_RESPONSE, seq, cp_seid, body, self.head)


def answer_template(
    fill: FillPlan,
    head: tuple[IE, ...],
    up_fseid: FSEID,
    n3: tuple[str | None, str | None],
    check: tuple[list[bytes], bytes],
) -> AnswerTemplate | None:
    """The `AnswerTemplate` of the sessions of ``fill`` answered with ``head`` (Node ID,
    Cause) and UP F-SEIDs of ``up_fseid``'s addresses, whose local F-TEIDs are on our N3
    address ``n3`` (its IPv4 and IPv6 texts). ``check``: the allocations' octets of the
    session of ``fill`` whose F-SEID is ``up_fseid`` and the octets of its answer's IEs as
    encoding makes them; None when the template filled in with the former does not give
    the latter."""
    node_id = head[0]
    if not isinstance(node_id, NodeID):
        return None
    n = len(fill.takes)
    parts: list[bytes | int] = [encode_ies(list(head))]
    value = FSEID(0, up_fseid.ipv4, up_fseid.ipv6).encode()  # (flags, SEID, addresses)
    parts += (_TL.pack(T.F_SEID, len(value)) + value[:1], n, value[9:])
    fteid = FTEID(0, *n3).encode()  # (flags, TEID, address)
    for pdr_ie, chosen in fill.created:
        children: list[bytes | int] = [encode_ies([pdr_ie])]
        for take, source in chosen:
            if source is None:
                ie_type, value = T.F_TEID, fteid
            else:  # (flags, address)
                ie_type, value = T.UE_IP_ADDRESS, UEIPAddress("0.0.0.0", None, source).encode()
            children += (_TL.pack(ie_type, len(value)) + value[:1], take, value[5:])
        length = sum(len(c) if isinstance(c, bytes) else 4 for c in children)
        if length > 0xFFFF:
            return None
        parts.append(_TL.pack(T.CREATED_PDR, length))
        parts += children
    # The constant octets run together, after the values.
    constants: list[bytes] = []
    order: list[int] = []
    first = n + 1
    for part in parts:
        if isinstance(part, int):
            order.append(part)
        elif part == b"":
            continue
        elif order and order[-1] >= first:
            constants[-1] += part
        else:
            order.append(first + len(constants))
            constants.append(part)
    if len(order) < 2:  # (itemgetter of one index gives the item, not a tuple)
        return None
    template = AnswerTemplate(node_id, head, operator.itemgetter(*order), tuple(constants))
    values, octets = check
    if len(values) != n or template.body(values, up_fseid.seid) != octets:
        return None
    return template
