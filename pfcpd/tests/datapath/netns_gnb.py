"""The gNB side of test_e2e_netns.py: sends GTP-U (built with scapy) from its own namespace
to the UPF's N3 address and prints the replies (hex) as JSON."""

from __future__ import annotations

import json
import socket
import sys

from dp_programs import N3_GNB, N3_UPF, QFI, UE, UL_TEID
from scapy.contrib.gtp import GTP_U_Header, GTPEchoRequest, GTPPDUSessionContainer
from scapy.layers.inet import ICMP, IP
from scapy.packet import Raw, raw


def main() -> None:
    dn, count = sys.argv[1], int(sys.argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((str(N3_GNB), 2152))
    s.settimeout(3.0)
    replies: dict[str, list[str]] = {"echo": [], "ping": [], "error": []}

    def exchange(msg: bytes, key: str) -> None:
        s.sendto(msg, (str(N3_UPF), 2152))
        try:
            data, _ = s.recvfrom(65535)
            replies[key].append(data.hex())
        except TimeoutError:
            pass

    exchange(raw(GTP_U_Header(gtp_type=1, S=1, seq=9) / GTPEchoRequest()), "echo")
    for seq in range(1, count + 1):
        inner = IP(src=str(UE), dst=dn) / ICMP(id=0x77, seq=seq) / Raw(b"upf-e2e" * 8)
        gpdu = GTP_U_Header(teid=UL_TEID, gtp_type=255) / GTPPDUSessionContainer(type=1, QFI=QFI)
        exchange(raw(gpdu / inner), "ping")
    exchange(
        raw(GTP_U_Header(teid=0xBAD, gtp_type=255) / IP(src=str(UE), dst=dn) / ICMP()), "error"
    )
    print(json.dumps(replies), flush=True)


if __name__ == "__main__":
    main()
