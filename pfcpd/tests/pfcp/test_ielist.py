"""IEList.get / get_all (in C, _walk.c): the first IE of a type and every IE of a type, in
order, in messages and grouped IEs, whatever kind of IE holds the type."""

from __future__ import annotations

import pytest

from pfcpd.pfcp import decode, encode
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp.ie import Grouped, RawIE, VendorIE
from pfcpd.pfcp.ie_types import IEType as T
from pfcpd.pfcp.message_types import MessageType as M
from pfcpd.pfcp.messages import Message


def test_get_finds_the_first_of_a_type_and_get_all_every_one_in_order() -> None:
    first, second = Grouped(T.CREATE_PDR, [S.PDRID(1)]), Grouped(T.CREATE_PDR, [S.PDRID(2)])
    raw, vendor = RawIE(250, b"\x01"), VendorIE(0x8001, 18681, b"")
    msg = Message(M.SESSION_MODIFICATION_REQUEST, 1, [raw, first, vendor, second], seid=1)
    assert msg.get(T.CREATE_PDR) is first
    assert msg.get(250) is raw
    assert msg.get(0x8001) is vendor
    assert msg.get(T.CREATE_FAR) is None
    assert msg.get_all(T.CREATE_PDR) == [first, second]
    assert msg.get_all(T.CREATE_PDR)[1] is second
    assert msg.get_all(T.CREATE_FAR) == []
    assert second.get(T.PDR_ID) == S.PDRID(2)
    assert Grouped(T.PDI, []).get(T.PDR_ID) is None
    msg.ies.insert(0, third := Grouped(T.CREATE_PDR, []))  # (read at each call)
    assert msg.get(T.CREATE_PDR) is third
    assert msg.get_all(T.CREATE_PDR) == [third, first, second]


def test_decoded_messages_answer_as_they_were_built() -> None:
    built = Message(
        M.SESSION_MODIFICATION_REQUEST,
        7,
        [Grouped(T.REMOVE_PDR, [S.PDRID(3)]), Grouped(T.REMOVE_PDR, [S.PDRID(4)])],
        seid=9,
    )
    msg = decode(encode(built))
    assert [ie.get(T.PDR_ID) for ie in msg.get_all(T.REMOVE_PDR)] == [S.PDRID(3), S.PDRID(4)]
    assert msg.get(T.REMOVE_PDR) == built.ies[0]


def test_misuse_raises() -> None:
    msg = Message(M.HEARTBEAT_REQUEST, 1, [])
    with pytest.raises(TypeError):
        msg.get()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        msg.get_all(1, 2)  # type: ignore[call-arg]
    msg.ies = 5  # type: ignore[assignment]
    with pytest.raises(TypeError, match="ies must be a sequence"):
        msg.get(1)
