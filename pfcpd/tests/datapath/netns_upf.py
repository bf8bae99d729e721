"""Run the local datapath inside the test's UPF namespace (test_e2e_netns.py).

argv: <tun name>. Installs the basic session, prints READY, forwards until a line arrives on
stdin, then prints the session's usage and the datapath counters as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys

from dp_programs import N3_UPF, basic_program

from pfcpd.datapath.local.settings import LocalDatapathSettings, LocalUpf


def main() -> None:
    tun = sys.argv[1]
    upf = LocalUpf(LocalDatapathSettings.from_mapping({"n3_address": str(N3_UPF), "n6_tun": tun}))
    dp = upf.datapath
    dp.install(0x42, basic_program())
    upf.start()
    subprocess.run(["ip", "link", "set", "dev", tun, "up"], check=True)
    subprocess.run(["ip", "route", "add", "10.45.0.0/16", "dev", tun], check=True)
    print("READY", flush=True)
    sys.stdin.readline()
    assert upf.loop is not None
    errors = upf.loop.errors
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
            }
        ),
        flush=True,
    )
    upf.stop()


if __name__ == "__main__":
    main()
