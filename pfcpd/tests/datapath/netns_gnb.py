"""The gNB side of test_e2e_netns.py: sends GTP-U (built with scapy) from its own namespace
to the UPF's N3 address and prints the replies (hex) as JSON.

argv: <DN address> <count> <variant> (see netns_upf.py). The UE address family follows the
DN's; v6 uses IPv6 on N3. With v4-dupl it also collects the FAR DUPL copies sent to the LI
collector address (UDP to LI:LI_PORT, GTP-U to LI:2152). With multi-n6 it also pings from
UE_IMS over its own TEID (replies under "ping_ims")."""

from __future__ import annotations

import ipaddress
import json
import socket
import sys

from dp_programs import (
    IMS_UL_TEID,
    LI,
    LI_PORT,
    N3_GNB,
    N3_GNB6,
    N3_UPF,
    N3_UPF6,
    QFI,
    UE,
    UE6,
    UE_IMS,
    UL_TEID,
)
from scapy.contrib.gtp import GTP_U_Header, GTPEchoRequest, GTPPDUSessionContainer
from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.packet import Packet, Raw, raw


def _drain(s: socket.socket) -> list[str]:
    out: list[str] = []
    s.settimeout(1.0)
    try:
        while True:
            out.append(s.recv(65535).hex())
    except TimeoutError:
        return out


def main() -> None:
    dn, count, variant = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    v6_outer = variant == "v6"
    gnb, upf = (N3_GNB6, N3_UPF6) if v6_outer else (N3_GNB, N3_UPF)
    s = socket.socket(socket.AF_INET6 if v6_outer else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((str(gnb), 2152))
    s.settimeout(3.0)
    li: list[socket.socket] = []
    if variant == "v4-dupl":
        for port in (LI_PORT, 2152):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((str(LI), port))
            li.append(sock)
    replies: dict[str, list[str]] = {"echo": [], "ping": [], "error": [], "ping_ims": []}

    def exchange(msg: bytes, key: str) -> None:
        s.sendto(msg, (str(upf), 2152))
        try:
            data, _ = s.recvfrom(65535)
            replies[key].append(data.hex())
        except TimeoutError:
            pass

    def echo(seq: int, ue: str = str(UE)) -> Packet:
        payload = Raw(b"upf-e2e" * 8)
        if ipaddress.ip_address(dn).version == 6:
            return IPv6(src=str(UE6), dst=dn) / ICMPv6EchoRequest(id=0x77, seq=seq) / payload
        return IP(src=ue, dst=dn) / ICMP(id=0x77, seq=seq) / payload

    exchange(raw(GTP_U_Header(gtp_type=1, S=1, seq=9) / GTPEchoRequest()), "echo")
    for seq in range(1, count + 1):
        gpdu = GTP_U_Header(teid=UL_TEID, gtp_type=255) / GTPPDUSessionContainer(type=1, QFI=QFI)
        exchange(raw(gpdu / echo(seq)), "ping")
    if variant == "multi-n6":
        for seq in range(1, count + 1):
            gpdu = GTP_U_Header(teid=IMS_UL_TEID, gtp_type=255) / GTPPDUSessionContainer(
                type=1, QFI=QFI
            )
            exchange(raw(gpdu / echo(seq, str(UE_IMS))), "ping_ims")
    exchange(raw(GTP_U_Header(teid=0xBAD, gtp_type=255) / echo(99)), "error")
    if li:
        replies["li_udp"], replies["li_gtpu"] = _drain(li[0]), _drain(li[1])
    print(json.dumps(replies), flush=True)


if __name__ == "__main__":
    main()
