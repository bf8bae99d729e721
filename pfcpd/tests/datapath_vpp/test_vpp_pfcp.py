"""pfcpd run with datapath.kind vpp, driven over PFCP by the SMF simulator: sessions land in
VPP, survive a kill -9 of pfcpd untouched (VPP keeps forwarding; the restarted pfcpd
reconciles without reprogramming), and go on deletion. Against a private VPP with the upf
plugin (skipped, naming what is missing, without them), and against the API socket
stand-in with the plugin model (test_vpp_stack), which runs everywhere."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from fake_api_server import FakeApiServer
from fake_plugin import FakeVpp
from vpp_instance import VppInstance

from pfcpd.datapath.vpp import translate as tr
from pfcpd.datapath.vpp.client import ApiClient
from pfcpd.pfcp import Cause
from pfcpd.smfsim import rules
from pfcpd.smfsim.client import cause_of


def vpp_sessions(vpp: VppInstance) -> dict[int, int]:
    """SEID -> cookie of the sessions VPP holds, read by a client of the test's own."""
    client = ApiClient(str(vpp.api_socket), 5.0, lambda _: None, lambda: None)
    try:
        client.connect()
        _, details = client.call("upf_session_dump", seid=tr.ALL_SESSIONS)
        return {int(d.seid): int(d.cookie) for d in details}
    finally:
        client.close()


def overrides(api_socket: Path, n3: str = "loop0", n6: str = "loop1") -> dict[str, Any]:
    return {
        "pfcp": {"t1": 2, "n1": 3},
        "datapath": {
            "kind": "vpp",
            "vpp": {
                "api_socket": str(api_socket),
                "connect_timeout": 10,
                "n3_interfaces": [n3],
                "network_instances": {"internet": {"n6_interfaces": [n6]}},
            },
        },
        "network_instances": {"internet": {"ue_pools": ["198.18.40.0/24", "fd00:c2:40::/64"]}},
    }


def test_pfcp_sessions_in_vpp_across_a_pfcpd_kill(
    vpp: VppInstance, start_pfcpd: Any, smf: Any
) -> None:
    daemon = start_pfcpd(overrides(vpp.api_socket))
    cp = smf(daemon)
    cp.associate()
    sessions = [cp.establish(rules.session_rules(gnb_teid=0x100 + i)) for i in range(3)]
    held = vpp_sessions(vpp)
    assert set(held) == {s.up_seid for s in sessions}
    assert all(cookie != 0 for cookie in held.values())

    daemon.signal(signal.SIGKILL)
    assert daemon.proc is not None and daemon.proc.wait(10) == -signal.SIGKILL
    daemon.proc = None
    assert vpp_sessions(vpp) == held  # VPP kept every session while pfcpd was gone
    daemon.start()
    assert vpp_sessions(vpp) == held  # same cookies: reconciled, not reprogrammed
    assert "3 session(s) restored (3 VPP kept), 0 deleted" in daemon.log()

    assert cause_of(cp.delete(sessions[1].up_seid)) == Cause.REQUEST_ACCEPTED
    assert set(vpp_sessions(vpp)) == {sessions[0].up_seid, sessions[2].up_seid}


def test_pfcp_sessions_across_a_pfcpd_kill_on_the_stand_in(
    stack: tuple[FakeApiServer, FakeVpp], start_pfcpd: Any, smf: Any
) -> None:
    server, vpp = stack
    daemon = start_pfcpd(overrides(server.path, n3="host-n3", n6="host-n6"))
    cp = smf(daemon)
    cp.associate()
    sessions = [cp.establish(rules.session_rules(gnb_teid=0x100 + i)) for i in range(3)]
    held = {seid: s.cookie for seid, s in vpp.sessions.items()}
    assert set(held) == {s.up_seid for s in sessions}
    assert vpp.bound == {1: (tr.ROLE_N3, 0), 2: (tr.ROLE_N6, 0)} and vpp.subscribed

    daemon.signal(signal.SIGKILL)
    assert daemon.proc is not None and daemon.proc.wait(10) == -signal.SIGKILL
    daemon.proc = None
    vpp.calls.clear()
    daemon.start()
    assert {seid: s.cookie for seid, s in vpp.sessions.items()} == held
    assert [name for name, _ in vpp.calls if name == "upf_session_add_del"] == []
    assert "3 session(s) restored (3 VPP kept), 0 deleted" in daemon.log()
    update = rules.update_dl_far(2, 0x999, "192.0.2.10")  # a path switch (handover)
    assert cause_of(cp.modify(sessions[0].up_seid, [update])) == Cause.REQUEST_ACCEPTED
    assert cause_of(cp.delete(sessions[1].up_seid)) == Cause.REQUEST_ACCEPTED
    assert set(vpp.sessions) == {sessions[0].up_seid, sessions[2].up_seid}
    assert vpp.sessions[sessions[0].up_seid].cookie != held[sessions[0].up_seid]
