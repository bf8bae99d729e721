"""GTP-U path management through a real `pfcpd run` with the local datapath over loopback:
two gNBs on loopback addresses of their own, one answering GTP-U Echo Requests, one silent;
the SMF simulator gets one PFCP Node Report Request (UPFR) naming the silent one only.
Every datagram pfcpd sends the SMF simulator is checked by tshark (the ``smf`` fixture)."""

from __future__ import annotations

import json
import random
import socket
import threading
from typing import Any

from scapy.contrib.pfcp import PFCP
from sessions_harness import needs_root, session_overrides

from pfcpd.pfcp import Message, MessageType, encode
from pfcpd.smfsim import rules

pytestmark = needs_root
M = MessageType


def loopback_address() -> str:
    return f"127.{random.randint(100, 200)}.{random.randint(0, 255)}.{random.randint(2, 250)}"


class AnsweringGnb:
    """A GTP-U peer on (address, 2152) that answers Echo Requests (TS 29.281 7.2.2)."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 2152))
        self.sock.settimeout(0.1)
        self.requests: list[tuple[str, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            if len(data) >= 12 and data[1] == 1:
                self.requests.append((peer[0], data))
                answer = bytes([0x32, 2, 0, 6, 0, 0, 0, 0]) + data[8:12] + b"\x0e\x00"
                self.sock.sendto(answer, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def test_silent_gnb_reported_answering_gnb_not(start_pfcpd: Any, smf: Any) -> None:
    good, silent = loopback_address(), loopback_address()
    while silent == good:
        silent = loopback_address()
    echo = {"interval": 1, "t3_response": 0.3, "n3_requests": 2}
    over = session_overrides(pool=f"198.18.{random.randint(0, 255)}.0/30")
    over["pfcp"]["gtpu_echo"] = echo
    daemon = start_pfcpd(over)
    gnb = AnsweringGnb(good)
    try:
        cp = smf(daemon)
        cp.associate()
        cp.establish(rules.session_rules(gnb=good, gnb_teid=0x100))
        cp.establish(rules.session_rules(gnb=silent, gnb_teid=0x200))
        cp.poll(6.0)  # (the simulator answers each Node Report Request, keeps it)
        reports: list[Message] = cp.node_reports
        # The answering gNB got Echo Requests from pfcpd's N3 address, about 1 s apart
        n3 = daemon.config["interfaces"]["n3"]["address"]
        assert gnb.requests and {src for src, _ in gnb.requests} == {n3}
        assert 3 <= len(gnb.requests) <= 8
        for _, data in gnb.requests:
            assert data[:8] == bytes([0x32, 1, 0, 4, 0, 0, 0, 0])
        # `pfcpd show paths`: the answering gNB's path up, the silent one's failed
        proc = daemon.cli("show", "paths", "--json", "--config", str(daemon.config_path))
        view = json.loads(proc.stdout)
        assert view["enabled"] is True and view["interval"] == 1
        states = {p["peer"]: (p["state"], p["fars"]) for p in view["paths"]}
        assert states == {good: ("up", 1), silent: ("failed", 1)}
        table = daemon.cli("show", "paths", "--config", str(daemon.config_path)).stdout
        lines = table.splitlines()
        assert lines[1].split() == ["PEER", "STATE", "FARS", "UNANSWERED"]
        assert {tuple(line.split()[:3]) for line in lines[2:]} == {
            (good, "up", "1"),
            (silent, "failed", "1"),
        }
    finally:
        gnb.close()
    # one report (answered: no retransmission), of the silent gNB only
    (report,) = reports
    pkt = PFCP(encode(report))
    ies = {type(ie).__name__: ie for ie in pkt.payload.IE_list}
    assert ies["IE_NodeReportType"].UPFR == 1
    (remote,) = ies["IE_UserPlanePathFailureReport"].IE_list
    assert remote.ipv4 == silent
    assert ies["IE_NodeId"].id_type == 0  # (the UPF's node_id, an IPv4 address)
