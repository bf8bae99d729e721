"""GTP-U path management on the vpp datapath, against the fake plugin (`fake_plugin`):
`VppDatapath.send_echo` asks the plugin for an Echo Request (``upf_gtpu_echo_send``), and
the plugin's ECHO_RESPONSE event records come back as `EventType.ECHO_RESPONSE` events.
(Not run against a VPP with the rebuilt plugin: test_vpp_plugin's harness would.)"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from fake_plugin import FakeVpp
from test_vpp_datapath import client, open_datapath

from pfcpd.datapath.interface import EchoSent, EventType
from pfcpd.datapath.vpp import translate as tr

N3 = ipaddress.ip_address("192.0.2.1")
GNB = ipaddress.ip_address("192.0.2.9")
GNB6 = ipaddress.ip_address("2001:db8::9")


def test_send_echo_asks_the_plugin() -> None:
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    assert dp.send_echo(N3, GNB, 0x1234) is EchoSent.SENT
    assert vpp.echoes == [(N3, GNB, 0x1234)]
    name, args = vpp.calls[-1]
    assert name == "upf_gtpu_echo_send" and args == {"src": N3, "dst": GNB, "seq": 0x1234}
    dp.close()


def test_an_older_plugin_sends_none(caplog: Any) -> None:
    """No such message: UNSUPPORTED (the engine turns path management off)."""
    vpp = FakeVpp()
    vpp.missing.add("upf_gtpu_echo_send")
    dp = open_datapath(vpp)
    dp.start()
    assert dp.send_echo(N3, GNB, 1) is EchoSent.UNSUPPORTED
    assert vpp.echoes == []
    dp.close()


def test_a_refused_or_unsent_echo_is_logged_and_not_sent(caplog: Any) -> None:
    """VPP refuses it (another family than N3's) or is away: logged; NOT_SENT (the attempt
    does not count against the path: a VPP outage fails no path)."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    with caplog.at_level(logging.WARNING, "pfcpd.datapath"):
        assert dp.send_echo(N3, GNB6, 2) is EchoSent.NOT_SENT
    assert vpp.echoes == [] and "not sent" in caplog.text
    client(dp).spawned.pop().close()  # (the usage refresh)
    vpp.up = False
    client(dp).lose()
    caplog.clear()
    with caplog.at_level(logging.WARNING, "pfcpd.datapath"):
        assert dp.send_echo(N3, GNB, 3) is EchoSent.NOT_SENT
    assert vpp.echoes == [] and "not sent" in caplog.text
    dp.close()


def test_echo_response_records_become_events() -> None:
    vpp = FakeVpp()
    dp = open_datapath(vpp)

    class upf_event:  # (vpp_papi names the tuple after the message)
        records = (
            {"type": 8, "id": 0, "seid": 0, "value": 0x1234, "has_peer": True, "peer": GNB},
            {"type": 8, "id": 0, "seid": 0, "value": 7, "has_peer": True, "peer": GNB6},
        )

    client(dp).on_message(upf_event())
    events = dp.poll_events()
    assert [(e.type, e.value, e.peer) for e in events] == [
        (EventType.ECHO_RESPONSE, 0x1234, GNB),
        (EventType.ECHO_RESPONSE, 7, GNB6),
    ]
    dp.close()


def test_the_echo_message_and_event_are_upf_apis(papi_messages: dict[str, Any]) -> None:
    """What send_echo sends packs with upf.api's ``upf_gtpu_echo_send``, and an
    ECHO_RESPONSE record of ``upf_event`` (IPv4 and IPv6 senders) reads back as the event.
    (upf.api's JSON: the tree's when ``$UPF_API_JSON`` or a build of this tree gives it, else
    the installed plugin's, which has neither before the plugin is rebuilt.)"""
    send = papi_messages["upf_gtpu_echo_send"]
    data = send.pack(
        {"_vl_msg_id": 1000, "client_index": 0, "context": 1, "src": N3, "dst": GNB6, "seq": 9}
    )
    decoded, _ = send.unpack(data)
    assert (decoded.src, decoded.dst, decoded.seq) == (N3, GNB6, 9)
    records = [
        {"type": 8, "seid": 0, "value": 0xFFFF, "time_ns": 5, "has_peer": True, "peer": GNB},
        {"type": 8, "seid": 0, "value": 1, "time_ns": 6, "has_peer": True, "peer": GNB6},
    ]
    msg = papi_messages["upf_event"]
    data = msg.pack(
        {"_vl_msg_id": 1000, "client_index": 0, "pid": 1, "n_records": 2, "records": records}
    )
    decoded, _ = msg.unpack(data)
    events, unknown = tr.events_of(decoded)
    assert unknown == 0
    assert [(e.type, e.value, e.peer) for e in events] == [
        (EventType.ECHO_RESPONSE, 0xFFFF, GNB),
        (EventType.ECHO_RESPONSE, 1, GNB6),
    ]
