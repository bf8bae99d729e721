"""Session programming cost through pfcpd's vpp datapath, against a private VPP with the upf
plugin (pfcpd/tests/datapath_vpp/vpp_instance.py starts it).

N typical sessions (2 PDRs, 2 FARs, 1 QER, 1 URR: the session_rate.py shape) are:
- encoded only: translation to upf_session_add_del + vpp_papi's pack (no I/O);
- installed one by one with VppDatapath.install (what the engine does per PFCP request:
  one blocking round trip each, from the caller's thread through the client's loop);
- installed pipelined: every CREATE sent at once through ApiClient.call_many, then every
  reply awaited (what the restore after a restart does);
- removed one by one.
The baseline, in the same run and through the same client: control_ping round trips, one
by one and pipelined (the API's floor: the same path with an empty message). Printed: us per
session or call, and each as a ratio to its baseline.

Needs root, VPP and the upf plugin; prints why and exits 0 otherwise.
Run: .venv/bin/python bench/vpp_datapath.py [--sessions N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1] / "pfcpd" / "tests" / "datapath_vpp")
)

from pfcpd.datapath.vpp import translate as tr
from pfcpd.datapath.vpp.datapath import VppDatapath
from test_vpp_live import program, settings
from vpp_instance import Missing, VppInstance


def per(n: int, seconds: float) -> float:
    return seconds / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=5000)
    args = parser.parse_args()
    n = args.sessions
    if os.geteuid() != 0:
        print("vpp_datapath: needs root (VPP); skipped")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-vpp-") as tmp:
        try:
            vpp = VppInstance(Path(tmp))
        except Missing as exc:
            print(f"vpp_datapath: {exc}; skipped")
            return 0
        vpp.start()
        try:
            return run(vpp, n)
        finally:
            vpp.stop()


def run(vpp: VppInstance, n: int) -> int:
    dp = VppDatapath(settings(vpp))
    dp.start()
    client = dp.client
    programs = [program(seid) for seid in range(1, n + 1)]
    add_del = client._client.messages["upf_session_add_del"]  # vpp_papi's serializer

    t = time.perf_counter()
    for _ in range(n):
        client.call("control_ping")
    ping_seq = per(n, time.perf_counter() - t)
    t = time.perf_counter()
    client.call_many([("control_ping", {})] * n, timeout=60)
    ping_pipe = per(n, time.perf_counter() - t)

    t = time.perf_counter()
    for seid, p in enumerate(programs, 1):
        msg = tr.session_message(seid, tr.OP_CREATE, p)
        add_del.pack({"_vl_msg_id": 1, "client_index": 0, "context": 1, **msg})
    encode = per(n, time.perf_counter() - t)

    t = time.perf_counter()
    for seid, p in enumerate(programs, 1):
        dp.install(seid, p)
    install_seq = per(n, time.perf_counter() - t)
    t = time.perf_counter()
    for seid in range(1, n + 1):
        dp.remove(seid)
    remove_seq = per(n, time.perf_counter() - t)

    calls = [
        ("upf_session_add_del", tr.session_message(seid, tr.OP_CREATE, p))
        for seid, p in enumerate(programs, 1)
    ]
    t = time.perf_counter()
    results = client.call_many(calls, timeout=120)
    install_pipe = per(n, time.perf_counter() - t)
    failed = sum(isinstance(r, Exception) for r in results)
    dp.close()

    print(f"vpp datapath, {n} sessions (2 PDR, 2 FAR, 1 QER, 1 URR), private VPP")
    print(
        f"  baseline control_ping      one by one {ping_seq:8.1f} us   pipelined {ping_pipe:8.1f} us"
    )
    print(f"  encode (translate + pack)  {encode:8.1f} us/session")
    print(
        f"  install one by one         {install_seq:8.1f} us/session "
        f"({install_seq / ping_seq:.2f} x ping)"
    )
    print(
        f"  install pipelined          {install_pipe:8.1f} us/session "
        f"({install_pipe / ping_pipe:.2f} x pipelined ping){f', {failed} FAILED' if failed else ''}"
    )
    print(f"  remove one by one          {remove_seq:8.1f} us/session")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
