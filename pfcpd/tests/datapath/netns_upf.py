"""Run the local datapath inside the test's UPF namespace (test_e2e_netns.py).

argv: <tun name> <variant>. Variants: v4 (IPv4 N3, IPv4 UE), v4-dupl (v4 plus FAR DUPL
copies to the LI collector), v6 (IPv6 N3, IPv6 UE), v4-ue6 (IPv4 N3, IPv6 UE), multi-n6 (v4
plus a second session, UE_IMS, in network instance "ims" on TUN <tun name>b). Installs the
session(s), prints READY, forwards until a line arrives on stdin, then prints the usage,
the datapath counters and the TUNs' packet counters as JSON.
"""

from __future__ import annotations

import json
import subprocess
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
    n6: str | dict[str, str] = tun
    if variant == "multi-n6":
        n6 = {"internet": tun, "ims": f"{tun}b"}
    upf = LocalUpf(LocalDatapathSettings.from_mapping({"n3_address": n3, "n6_tun": n6}))
    dp = upf.datapath
    dp.install(0x42, program)
    if variant == "multi-n6":
        assert upf.settings.network_instances["ims"] == 1
        dp.install(0x43, ims_program())
    upf.start()
    for dev in upf.settings.n6_tuns:
        subprocess.run(["ip", "link", "set", "dev", dev, "up"], check=True)
    subprocess.run(["ip", "route", "add", "10.45.0.0/16", "dev", tun], check=True)
    subprocess.run(["ip", "-6", "route", "add", "fd00:45::/64", "dev", tun], check=True)
    if variant == "multi-n6":
        subprocess.run(["ip", "route", "add", "10.46.0.0/16", "dev", f"{tun}b"], check=True)
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
