"""The metrics labels of message types and causes, made once per value and looked up by
subscript on the request path: the codec's name of each type and the Cause's name, for
every octet value (an IntEnum member as its int), and no more entries than values seen."""

from __future__ import annotations

from pfcpd.node import node as N
from pfcpd.pfcp import Cause, MessageType
from pfcpd.pfcp.message_types import message_type_name


def test_labels_are_the_names_for_every_octet() -> None:
    for value in range(256):
        assert N.type_label(value) == N._TYPE_LABELS[value] == message_type_name(value)
        try:
            expected = Cause(value).name.lower()
        except ValueError:
            expected = str(value)
        assert N._cause_name(value) == N._CAUSE_NAMES[value] == expected
    for t in MessageType:
        assert N.type_label(t) == message_type_name(int(t)) == t.name.lower()
    assert N._cause_name(Cause.REQUEST_ACCEPTED) == "request_accepted"
    assert len(N._TYPE_LABELS) == len(N._CAUSE_NAMES) == 256
