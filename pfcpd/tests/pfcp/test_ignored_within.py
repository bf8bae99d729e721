"""`IgnoredIE.within`: the list of IEs an IE was set aside from (its enclosing group's
``ies``, or the message's), which tells which of several groups of one type held it."""

from __future__ import annotations

from pfcpd.pfcp import Grouped, IEType, Message, MessageType, RawIE, decode, encode
from pfcpd.pfcp import ies_scalar as S

T = IEType


def test_within_is_the_list_of_the_group_that_held_the_ie() -> None:
    request = Message(
        MessageType.SESSION_MODIFICATION_REQUEST,
        7,
        [
            Grouped(T.UPDATE_PDR, [S.PDRID(1), RawIE(T.URR_ID, b"")]),
            Grouped(T.UPDATE_PDR, [S.PDRID(2), RawIE(T.QER_ID, b""), RawIE(T.URR_ID, b"")]),
            Grouped(
                T.UPDATE_FAR,
                [
                    S.FARID(2),
                    Grouped(
                        T.UPDATE_FORWARDING_PARAMETERS, [RawIE(T.TRANSPORT_LEVEL_MARKING, b"")]
                    ),
                ],
            ),
            RawIE(T.QUERY_URR_REFERENCE, b""),  # (set aside at the top)
        ],
        1,
    )
    msg = decode(encode(request))
    pdr1, pdr2, far = (ie for ie in msg.ies if isinstance(ie, Grouped))
    fp = far.get(T.UPDATE_FORWARDING_PARAMETERS)
    assert isinstance(fp, Grouped)
    where = [(i.ie.type, i.within) for i in msg.ignored]
    assert [t for t, _ in where] == [
        T.URR_ID,
        T.QER_ID,
        T.URR_ID,
        T.TRANSPORT_LEVEL_MARKING,
        T.QUERY_URR_REFERENCE,
    ]
    holders = [pdr1.ies, pdr2.ies, pdr2.ies, fp.ies, msg.ies]
    assert all(within is holder for (_, within), holder in zip(where, holders, strict=True))
    # (the groups that set an IE aside keep no octets: not a decoded-once template)
    assert (pdr1.raw, pdr2.raw, far.raw, fp.raw) == (None, None, None, None)
