"""Run the local datapath inside the test's UPF namespace (test_e2e_netns.py).

argv: <tun name>. Installs the basic session, prints READY, forwards until a line arrives on
stdin, then prints the session's usage and the datapath counters as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

from dp_programs import N3_UPF, basic_program

from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.datapath.local.io import PacketLoop


def main() -> None:
    tun = sys.argv[1]
    dp = LocalDatapath()
    dp.install(0x42, basic_program())
    loop = PacketLoop(dp, N3_UPF, tun)
    subprocess.run(["ip", "link", "set", "dev", tun, "up"], check=True)
    subprocess.run(["ip", "route", "add", "10.45.0.0/16", "dev", tun], check=True)
    thread = threading.Thread(target=loop.run)
    thread.start()
    print("READY", flush=True)
    sys.stdin.readline()
    loop.stop()
    thread.join()
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
                "io_errors": loop.errors,
            }
        ),
        flush=True,
    )
    loop.close()
    dp.close()


if __name__ == "__main__":
    main()
