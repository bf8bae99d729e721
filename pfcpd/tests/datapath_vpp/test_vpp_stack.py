"""VppDatapath through the whole client stack without VPP: the real ApiClient and
vpp_papi_async over a Unix socket to the API socket stand-in (fake_api_server), which
decodes every request with vpp_papi's serializer from upf.api's and VPP's interface.api
JSON and answers as the plugin model (fake_plugin.FakeVpp) says. Sessions go through the
precompiled packer; usage, events, a pfcpd restart and a VPP crash run as in production.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import time
from collections.abc import Callable
from typing import Any

import pytest
from fake_api_server import FakeApiServer
from fake_plugin import FakeVpp
from test_vpp_datapath import program
from vpp_config import settings_of

from pfcpd.datapath.interface import DatapathError, EventType, Urr
from pfcpd.datapath.vpp import translate as tr
from pfcpd.datapath.vpp.datapath import VppDatapath
from pfcpd.datapath.vpp.settings import VppDatapathSettings


def settings(server: FakeApiServer) -> VppDatapathSettings:
    return settings_of(
        {
            "kind": "vpp",
            "vpp": {
                "api_socket": str(server.path),
                "connect_timeout": 5,
                "call_timeout": 2,
                "usage_refresh": 0.05,
                "n3_interfaces": ["host-n3"],
                "network_instances": {"internet": {"n6_interfaces": ["host-n6"]}},
            },
        },
        ["internet"],
    )


def wait(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_session_through_the_stack(stack: tuple[FakeApiServer, FakeVpp]) -> None:
    server, vpp = stack
    dp = VppDatapath(settings(server))
    try:
        assert dp._packer is not None  # compiled from the JSON the server served
        assert vpp.bound == {1: (tr.ROLE_N3, 0), 2: (tr.ROLE_N6, 0)} and vpp.subscribed
        dp.start()
        dp.install(0x10, program(0x100, urrs=(1, 2)))
        assert vpp.sessions[0x10].cookie == dp._programs[0x10][1] != 0
        _, msg = next(m for m in reversed(server.received) if m[0] == "upf_session_add_del")
        assert (msg.seid, int(msg.op), msg.n_rules) == (0x10, tr.OP_CREATE, 2 + 2 + 2)
        vpp.count(0x10, 1, 700)
        assert wait(lambda: dp.read_usage(0x10, 1).bytes_total == 700)  # the refresh
        assert dp.read_usage(0x10, 1, reset=True).bytes_total == 700
        assert dp.read_usage(0x10, 1).bytes_total == 0
        gnb6 = ipaddress.IPv6Address("2001:db8:9::1:2")
        records = [
            {"type": int(EventType.USAGE_QUOTA), "id": 2, "seid": 0x10, "value": 0},
            {"type": int(EventType.ERROR_INDICATION), "value": 0x300, "has_peer": 1, "peer": gnb6},
        ]
        server.push("upf_event", client_index=7, pid=1, n_records=2, records=records)
        events: list[Any] = []
        assert wait(lambda: bool(events.extend(dp.poll_events()) or len(events) == 2))
        assert [(e.type, e.seid, e.id, e.value, e.peer) for e in events] == [
            (EventType.USAGE_QUOTA, 0x10, 2, 0, None),
            (EventType.ERROR_INDICATION, 0, 0, 0x300, gnb6),
        ]
        assert dp.ready  # (the event did not end vpp_papi_async's reader)
        wide = dataclasses.replace(program(0x100), urrs=(Urr(2**32),))
        with pytest.raises(DatapathError, match=r"does not fit upf\.api"):
            dp.install(0x10, wide)  # refused before anything is sent: nothing changes
        vpp.count(0x10, 2, 5)
        assert dp.remove(0x10)[2].bytes_total == 5
        assert vpp.sessions == {}
    finally:
        dp.close()


def test_pfcpd_restart_and_vpp_crash_through_the_stack(
    stack: tuple[FakeApiServer, FakeVpp],
) -> None:
    server, vpp = stack
    first = VppDatapath(settings(server))
    first.start()
    for seid in (1, 2, 3):
        first.install(seid, program(0x100 + seid))
    cookies = {s: x.cookie for s, x in vpp.sessions.items()}
    first.close()

    dp = VppDatapath(settings(server))
    try:
        dp.install(1, program(0x101))
        dp.install(2, program(0x202))
        dp.start()
        assert set(vpp.sessions) == {1, 2}
        assert vpp.sessions[1].cookie == cookies[1]
        assert vpp.sessions[2].cookie not in (cookies[2], 0)

        vpp.restart()  # VPP crashes and comes back empty
        server.drop()
        assert wait(lambda: dp.reconnects == 1)
        assert dp.ready and set(vpp.sessions) == {1, 2}
        assert vpp.bound == {1: (tr.ROLE_N3, 0), 2: (tr.ROLE_N6, 0)} and vpp.subscribed
        dp.install(3, program(0x303))
        assert 3 in vpp.sessions
    finally:
        dp.close()
