"""The vpp datapath against a real VPP with the upf plugin (a private instance started by
the test: vpp_instance). Skipped, naming what is missing, without VPP or the plugin."""

from __future__ import annotations

import ipaddress
import logging
import time
from typing import Any

import pytest
from vpp_config import settings_of
from vpp_instance import VppInstance

from pfcpd.datapath.interface import (
    ApplyAction,
    Far,
    Interface,
    Pdr,
    Qer,
    SessionProgram,
    Urr,
)
from pfcpd.datapath.vpp import translate as tr
from pfcpd.datapath.vpp.datapath import VppDatapath
from pfcpd.datapath.vpp.settings import VppDatapathSettings

EVERY_FAR = frozenset(range(256))  # (end markers asked for every FAR of these programs)

N3 = ipaddress.IPv4Address("10.200.0.2")
GNB = ipaddress.IPv4Address("10.200.0.1")


def program(seid: int, teid: int | None = None) -> SessionProgram:
    """A typical session: UL and DL PDR, FARs, one QER, one URR."""
    ue = ipaddress.ip_network(f"10.45.{(seid >> 8) & 0xFF}.{seid & 0xFF}/32")
    return SessionProgram(
        pdrs=(
            Pdr(
                1,
                100,
                Interface.ACCESS,
                1,
                local_fteid=(N3, teid or seid),
                ue_ip=ue,
                outer_header_removal=0,
                qer_ids=(1,),
                urr_ids=(1,),
            ),
            Pdr(2, 100, Interface.CORE, 2, ue_ip=ue, qer_ids=(1,), urr_ids=(1,)),
        ),
        fars=(
            Far(1, ApplyAction.FORW, Interface.CORE),
            Far(
                2,
                ApplyAction.FORW,
                Interface.ACCESS,
                outer_header_creation=(GNB, 0x1000 + seid),
                ohc_source=N3,
            ),
        ),
        qers=(Qer(1, mbr_ul=100_000_000, mbr_dl=100_000_000),),
        urrs=(Urr(1, volume_threshold=(10_000_000, 0, 0)),),
    )


def settings(vpp: VppInstance) -> VppDatapathSettings:
    return settings_of(
        {
            "kind": "vpp",
            "vpp": {
                "api_socket": str(vpp.api_socket),
                "connect_timeout": 10,
                "call_timeout": 5,
                "n3_interfaces": ["loop0"],
                "network_instances": {
                    "internet": {"n6_interfaces": ["loop1"], "ip4_table_id": 0},
                    "ims": {"n6_interfaces": ["loop2"], "ip4_table_id": 20, "ip6_table_id": 20},
                },
            },
        },
        ["internet", "ims"],
    )


def held(dp: VppDatapath) -> dict[int, int]:
    """SEID -> cookie of every session VPP holds."""
    _, details = dp.client.call("upf_session_dump", seid=tr.ALL_SESSIONS)
    return {int(d.seid): int(d.cookie) for d in details}


def test_session_life_in_vpp(vpp: VppInstance) -> None:
    dp = VppDatapath(settings(vpp))
    try:
        dp.start()
        _, bound = dp.client.call("upf_interface_dump")
        assert sorted((int(b.role), int(b.network_instance)) for b in bound) == [
            (tr.ROLE_N3, 0),
            (tr.ROLE_N6, 0),
            (tr.ROLE_N6, 1),
        ]
        assert "loop2" in vpp.cli("show upf interfaces")
        dp.install(0x101, program(0x101))
        assert dp._packer is not None  # upf.api compiled from the JSON VPP serves
        cookie = dp._session_call(0x101, tr.OP_CREATE, program(0x101))[1]
        assert held(dp) == {0x101: cookie}
        assert "101" in vpp.cli("show upf session").lower()
        usage = dp.read_usage(0x101, 1)
        assert (usage.urr_id, usage.bytes_total, usage.packets_total) == (1, 0, 0)
        dp.install(0x101, program(0x101, teid=0x555), end_markers=EVERY_FAR)
        assert held(dp)[0x101] != cookie
        assert dp.drop_buffered(0x101) == 0
        final = dp.remove(0x101)
        assert set(final) == {1} and final[1].bytes_total == 0
        assert held(dp) == {}
    finally:
        dp.close()


def test_refused_program_changes_nothing(vpp: VppInstance) -> None:
    from pfcpd.datapath.interface import DatapathError

    dp = VppDatapath(settings(vpp))
    try:
        dp.start()
        bad = SessionProgram(pdrs=(Pdr(1, 1, Interface.ACCESS, far_id=9),), fars=())
        with pytest.raises(DatapathError):
            dp.install(0x7, bad)  # a PDR naming a FAR the program does not have
        assert held(dp) == {}
    finally:
        dp.close()


def test_pfcpd_restart_reconciles(vpp: VppInstance, caplog: Any) -> None:
    first = VppDatapath(settings(vpp))
    first.start()
    for seid in (0xA, 0xB, 0xC):
        first.install(seid, program(seid))
    first.close()  # pfcpd gone: VPP keeps forwarding
    assert set(held_via_new := _dump(vpp)) == {0xA, 0xB, 0xC}, held_via_new

    second = VppDatapath(settings(vpp))
    try:
        second.install(0xA, program(0xA))  # unchanged
        second.install(0xB, program(0xB, teid=0x777))  # changed after VPP got it
        second.install(0xD, program(0xD))  # VPP never got it
        with caplog.at_level(logging.INFO, logger="pfcpd.datapath.vpp"):
            second.start()
        now = held(second)
        assert set(now) == {0xA, 0xB, 0xD}  # 0xC (not journaled) deleted
        for seid, teid in ((0xA, None), (0xB, 0x777), (0xD, None)):
            assert now[seid] == second._session_call(seid, 0, program(seid, teid))[1]
        assert any("VPP reconciled" in r.getMessage() for r in caplog.records)
    finally:
        second.close()


def _dump(vpp: VppInstance) -> dict[int, int]:
    dp = VppDatapath(settings(vpp))
    try:
        return held(dp)
    finally:
        dp.close()


def test_vpp_restart_reprograms_every_session(vpp: VppInstance, caplog: Any) -> None:
    dp = VppDatapath(settings(vpp))
    try:
        dp.start()
        for seid in range(1, 51):
            dp.install(seid, program(seid))
        with caplog.at_level(logging.INFO, logger="pfcpd.datapath.vpp"):
            vpp.kill()
            deadline = time.monotonic() + 10
            while dp._ready and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not dp._ready, "the datapath did not notice VPP's death"
            vpp.start()
            deadline = time.monotonic() + 30
            while not dp._ready and time.monotonic() < deadline:
                time.sleep(0.1)
        assert dp._ready, "the datapath did not recover"
        assert set(held(dp)) == set(range(1, 51))
        lines = [r.getMessage() for r in caplog.records]
        back = [line for line in lines if line.startswith("VPP back after")]
        assert back and "50 session(s) re-programmed" in back[0], lines
        print(back[0])
        dp.install(99, program(99))
        assert 99 in held(dp)
    finally:
        dp.close()


def test_dl_data_report_event_from_vpp(vpp: VppInstance) -> None:
    """A downlink packet for a session whose FAR buffers (BUFF|NOCP) makes the plugin report
    it; the event arrives through want_upf_events as a DL_DATA_REPORT for the PDR."""
    from pfcpd.datapath.interface import Bar, EventType

    base = settings(vpp)
    pg_settings = settings_of(
        {
            "kind": "vpp",
            "vpp": {
                "api_socket": str(vpp.api_socket),
                "connect_timeout": 10,
                "call_timeout": 5,
                "network_instances": {"internet": {"n6_interfaces": ["pg0"]}},
            },
        },
        ["internet"],
    )
    assert base.api_socket == pg_settings.api_socket
    ue = ipaddress.ip_network("10.45.0.7/32")
    buffering = SessionProgram(
        pdrs=(Pdr(2, 100, Interface.CORE, 2, ue_ip=ue),),
        fars=(Far(2, ApplyAction.BUFF | ApplyAction.NOCP, Interface.ACCESS),),
        bar=Bar(1),
    )
    dp = VppDatapath(pg_settings)
    try:
        dp.start()
        dp.install(0x42, buffering)
        vpp.cli(
            "packet-generator new { name dl limit 1 size 64-64 interface pg0 node ip4-input "
            "data { UDP: 198.51.100.1 -> 10.45.0.7 UDP: 1234 -> 5678 incrementing 8 } }"
        )
        vpp.cli("packet-generator enable-stream dl")
        events: list[Any] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not events:
            events += [e for e in dp.poll_events() if e.type == EventType.DL_DATA_REPORT]
            time.sleep(0.05)
        assert [(e.seid, e.id) for e in events] == [(0x42, 2)], vpp.cli("show errors")
    finally:
        dp.close()
