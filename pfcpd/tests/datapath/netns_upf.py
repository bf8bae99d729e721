"""Run the local datapath inside the test's UPF namespace (test_e2e_netns.py).

argv: <tun name> <variant>. Variants: v4 (IPv4 N3, IPv4 UE), v4-dupl (v4 plus FAR DUPL
copies to the LI collector), v6 (IPv6 N3, IPv6 UE), v4-ue6 (IPv4 N3, IPv6 UE), multi-n6 (v4
plus a second session, UE_IMS, in network instance "ims" on TUN <tun name>b). Installs the
session(s), prints READY, forwards until a line arrives on stdin, then prints the usage,
the datapath counters and the TUNs' packet counters as JSON.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path

from dp_programs import (
    N3_GNB6,
    N3_UPF,
    N3_UPF6,
    UE6,
    basic_program,
    duplicating_program,
    ims_program,
)

from pfcpd.config import LocalDatapathConfig
from pfcpd.datapath.interface import SessionProgram
from pfcpd.datapath.local.settings import LocalDatapathSettings, LocalUpf

VARIANTS: dict[str, tuple[str, SessionProgram]] = {
    "v4": (str(N3_UPF), basic_program()),
    "v4-dupl": (str(N3_UPF), duplicating_program()),
    "v6": (str(N3_UPF6), basic_program(ue=UE6, n3_upf=N3_UPF6, n3_gnb=N3_GNB6)),
    "v4-ue6": (str(N3_UPF), basic_program(ue=UE6)),
    "multi-n6": (str(N3_UPF), basic_program()),
}


def _tun_counters(tun: str) -> dict[str, int]:
    """rx = packets we wrote into the TUN (UL to the DN), tx = packets we read (DL)."""
    base = Path("/sys/class/net") / tun / "statistics"
    return {k: int((base / f"{k}_packets").read_text()) for k in ("rx", "tx")}


def main() -> None:
    tun, variant = sys.argv[1], sys.argv[2]
    n3, program = VARIANTS[variant]
    pools = [ipaddress.ip_network("10.45.0.0/16"), ipaddress.ip_network("fd00:45::/64")]
    instances = {"internet": pools}
    tuns = {"internet": tun}
    if variant == "multi-n6":
        instances["ims"] = [ipaddress.ip_network("10.46.0.0/16")]
        tuns["ims"] = f"{tun}b"
    settings = LocalDatapathSettings.from_config(
        LocalDatapathConfig(kind="local", n6_tun=tuns), n3, instances
    )
    upf = LocalUpf(settings)
    dp = upf.datapath
    dp.install(0x42, program)
    if variant == "multi-n6":
        assert upf.settings.network_instances["ims"] == 1
        dp.install(0x43, ims_program())
    upf.start()  # brings the TUNs up and routes the UE pools to them
    print("READY", flush=True)
    sys.stdin.readline()
    assert upf.loop is not None
    errors, duplicates = upf.loop.errors, upf.loop.duplicates_sent
    usage = dp.read_usage(0x42, 1)
    ims = dp.read_usage(0x43, 1) if variant == "multi-n6" else None
    counters = dp.counters()
    tuns = {dev: _tun_counters(dev) for dev in upf.settings.n6_tuns}
    print(
        json.dumps(
            {
                "packets_ul": usage.packets_ul,
                "packets_dl": usage.packets_dl,
                "bytes_ul": usage.bytes_ul,
                "bytes_dl": usage.bytes_dl,
                "drops": counters.drops,
                "malformed": counters.malformed,
                "io_errors": errors,
                "duplicates_sent": duplicates,
                "ims_packets": [ims.packets_ul, ims.packets_dl] if ims else None,
                "tuns": tuns,
            }
        ),
        flush=True,
    )
    upf.stop()


if __name__ == "__main__":
    main()
