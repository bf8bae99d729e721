"""Run the local datapath inside the test's UPF namespace (test_e2e_netns.py).

argv: <tun name> <variant>. Variants: v4 (IPv4 N3, IPv4 UE), v4-dupl (v4 plus FAR DUPL
copies to the LI collector), v6 (IPv6 N3, IPv6 UE), v4-ue6 (IPv4 N3, IPv6 UE). Installs the
session, prints READY, forwards until a line arrives on stdin, then prints the session's
usage and the datapath counters as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys

from dp_programs import N3_GNB6, N3_UPF, N3_UPF6, UE6, basic_program, duplicating_program

from pfcpd.datapath.interface import SessionProgram
from pfcpd.datapath.local.settings import LocalDatapathSettings, LocalUpf

VARIANTS: dict[str, tuple[str, SessionProgram]] = {
    "v4": (str(N3_UPF), basic_program()),
    "v4-dupl": (str(N3_UPF), duplicating_program()),
    "v6": (str(N3_UPF6), basic_program(ue=UE6, n3_upf=N3_UPF6, n3_gnb=N3_GNB6)),
    "v4-ue6": (str(N3_UPF), basic_program(ue=UE6)),
}


def main() -> None:
    tun, variant = sys.argv[1], sys.argv[2]
    n3, program = VARIANTS[variant]
    upf = LocalUpf(LocalDatapathSettings.from_mapping({"n3_address": n3, "n6_tun": tun}))
    dp = upf.datapath
    dp.install(0x42, program)
    upf.start()
    subprocess.run(["ip", "link", "set", "dev", tun, "up"], check=True)
    subprocess.run(["ip", "route", "add", "10.45.0.0/16", "dev", tun], check=True)
    subprocess.run(["ip", "-6", "route", "add", "fd00:45::/64", "dev", tun], check=True)
    print("READY", flush=True)
    sys.stdin.readline()
    assert upf.loop is not None
    errors, duplicates = upf.loop.errors, upf.loop.duplicates_sent
    usage = dp.read_usage(0x42, 1)
    counters = dp.counters()
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
            }
        ),
        flush=True,
    )
    upf.stop()


if __name__ == "__main__":
    main()
