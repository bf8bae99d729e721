"""Session programming cost through pfcpd's vpp datapath, against a private VPP with the upf
plugin (pfcpd/tests/datapath_vpp/vpp_instance.py starts it).

N typical sessions (2 PDRs, 2 FARs, 1 QER, 1 URR: the session_rate.py shape) are:
- encoded only (no VPP needed, only upf.api's JSON: tests/datapath_vpp/upf_api_json.py):
  translated to rules, then packed by vpp_papi's generic serializer (the baseline) and by
  the datapath's precompiled structs (wire.SessionPacker); printed with their ratio;
- installed through pfcpd's path under load: VppDatapath pipelined (as the daemon opens it),
  VppDatapath.install for each session of a batch of 64 (the requests pfcpd reads per
  wake-up) then VppDatapath.settle (the group commit's barrier: every reply of the batch);
  wall and CPU (pfcpd's process, both threads) per session, and modified the same way;
- installed one by one with VppDatapath.install not pipelined (one blocking round trip
  each, from the caller's thread through the client's loop: what pfcpd did per request
  before the barrier);
- installed pipelined: every CREATE sent at once through ApiClient.call_many, then every
  reply awaited (what the restore after a restart does);
- removed one by one;
- their usage read once: one upf_usage_get per session, pipelined, and one
  upf_session_usage_dump (what one refresh of the usage cache costs).
The baseline, in the same run and through the same client: control_ping round trips, one
by one and pipelined (the API's floor: the same path with an empty message). Printed: us per
session or call, and each as a ratio to its baseline.

The VPP part needs root, VPP and the upf plugin; prints why and exits 0 otherwise.
Run: .venv/bin/python bench/vpp_datapath.py [--sessions N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "pfcpd" / "tests"
sys.path[:0] = [str(TESTS / "datapath_vpp"), str(TESTS)]  # (vpp_cpus.py is in tests/)

from pfcpd.datapath.vpp import datapath as vdp
from pfcpd.datapath.vpp import translate as tr
from pfcpd.datapath.vpp.datapath import VppDatapath
from test_vpp_live import program, settings
from upf_api_json import Missing as NoApiJson
from upf_api_json import find_upf_api_json, load
from vpp_instance import Missing, VppInstance


def per(n: int, seconds: float) -> float:
    return seconds / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=5000)
    args = parser.parse_args()
    n = args.sessions
    encode(n)
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


def best_of(runs: int, n: int, fn: Callable[[], None]) -> float:
    """us per session of the fastest of ``runs`` runs (the machine is shared: noise only
    ever adds time)."""
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, per(n, time.perf_counter() - t))
    return best


def encode(n: int) -> None:
    try:
        api = load(find_upf_api_json())
    except NoApiJson as exc:
        print(f"vpp_datapath encode: {exc}; skipped")
        return
    import json

    from pfcpd.datapath.vpp.wire import SessionPacker
    from vpp_papi.vpp_papi_async import VPPApiJSONFiles

    papi = VPPApiJSONFiles.process_json_str(json.dumps(api))[0]["upf_session_add_del"]
    packer = SessionPacker(api)
    programs = [program(seid) for seid in range(1, n + 1)]
    rules = [tr.program_rules(p) for p in programs]

    def translate_all() -> None:
        for p in programs:
            tr.program_rules(p)

    def generic_all() -> None:
        for seid, r in enumerate(rules, 1):
            papi.pack(
                {
                    "_vl_msg_id": 1,
                    "client_index": 0,
                    "context": 1,
                    "seid": seid,
                    "op": 0,
                }
                | {"cookie": 1, "n_rules": len(r), "rules": r}
            )

    def compiled_all() -> None:
        for seid, r in enumerate(rules, 1):
            b = packer.rules(r)
            packer.message(1, 0, 1, seid, 0, False, tr.bytes_cookie(b), len(r), b)

    translate, generic, compiled = (
        best_of(3, n, f) for f in (translate_all, generic_all, compiled_all)
    )
    print(
        f"vpp datapath encode, {n} sessions (2 PDR, 2 FAR, 1 QER, 1 URR), best of 3 runs"
    )
    print(f"  translate to rules          {translate:8.1f} us/session")
    print(f"  pack, vpp_papi (baseline)   {generic:8.1f} us/session")
    print(
        f"  pack, precompiled + cookie  {compiled:8.1f} us/session "
        f"({compiled / generic:.2f} x baseline)"
    )


BATCH = 64  # pfcp_socket.RECV_BATCH: requests read per wake-up, one group commit


def through_pfcpd(
    vpp: VppInstance, n: int, post_every: int = vdp.POST_EVERY
) -> tuple[float, float, float, float, int]:
    """us per session, wall and CPU, of n creates then n modifies through the pipelined
    datapath in batches of BATCH (install each, settle per batch), the changes handed to
    the client's thread ``post_every`` at a time; failures. The sessions are removed
    afterwards."""
    default, vdp.POST_EVERY = vdp.POST_EVERY, post_every
    try:
        return _through_pfcpd(vpp, n)
    finally:
        vdp.POST_EVERY = default


def _through_pfcpd(vpp: VppInstance, n: int) -> tuple[float, float, float, float, int]:
    dp = VppDatapath(settings(vpp), pipelined=True)
    dp.start()
    programs = [program(seid) for seid in range(1, n + 1)]
    modified = [program(seid, teid=0x100000 + seid) for seid in range(1, n + 1)]
    failed = 0
    out: list[float] = []
    for progs in (programs, modified):
        w, c = time.perf_counter(), time.process_time()
        for start in range(0, n, BATCH):
            for seid in range(start + 1, min(n, start + BATCH) + 1):
                dp.install(seid, progs[seid - 1])
            failed += len(dp.settle())
        out += [per(n, time.perf_counter() - w), per(n, time.process_time() - c)]
    for seid in range(1, n + 1):
        dp.remove(seid)
    dp.close()
    return out[0], out[1], out[2], out[3], failed


def run(vpp: VppInstance, n: int) -> int:
    create_wall, create_cpu, modify_wall, modify_cpu, failed = through_pfcpd(vpp, n)
    dp = VppDatapath(settings(vpp))
    dp.start()
    client = dp.client
    programs = [program(seid) for seid in range(1, n + 1)]

    t = time.perf_counter()
    for _ in range(n):
        client.call("control_ping")
    ping_seq = per(n, time.perf_counter() - t)
    t = time.perf_counter()
    client.call_many([("control_ping", {})] * n, timeout=60)
    ping_pipe = per(n, time.perf_counter() - t)

    t = time.perf_counter()
    for seid, p in enumerate(programs, 1):
        dp.install(seid, p)
    install_seq = per(n, time.perf_counter() - t)
    t = time.perf_counter()
    for seid in range(1, n + 1):
        dp.remove(seid)
    remove_seq = per(n, time.perf_counter() - t)

    t = time.perf_counter()
    calls = [
        dp._session_call(seid, tr.OP_CREATE, p)[0] for seid, p in enumerate(programs, 1)
    ]
    results = client.call_many(calls, timeout=120)
    install_pipe = per(n, time.perf_counter() - t)
    failed += sum(isinstance(r, Exception) for r in results)
    usage_calls = [
        ("upf_usage_get", {"seid": seid, "urr_id": 0, "reset": False})
        for seid in range(1, n + 1)
    ]
    t = time.perf_counter()
    usage = client.call_many(
        usage_calls, timeout=120
    )  # a refresh without the usage dump
    refresh = per(n, time.perf_counter() - t)
    failed += sum(isinstance(r, Exception) for r in usage)
    t = time.perf_counter()
    _, details = client.run(
        client.acall("upf_session_usage_dump", seid=tr.ALL_SESSIONS), timeout=120
    )
    refresh_dump = per(n, time.perf_counter() - t)
    failed += len(details) != n
    dp.close()

    print(f"vpp datapath, {n} sessions (2 PDR, 2 FAR, 1 QER, 1 URR), private VPP")
    print(
        f"  baseline control_ping      one by one {ping_seq:8.1f} us   pipelined {ping_pipe:8.1f} us"
    )
    print(
        f"  packer: {'precompiled structs' if dp._packer else 'vpp_papi (not compiled)'}"
    )
    print(
        f"  through pfcpd, batches of {BATCH}: create {create_wall:6.1f} us/session wall "
        f"({create_wall / ping_pipe:.2f} x pipelined ping), {create_cpu:6.1f} us CPU; "
        f"modify {modify_wall:6.1f} us wall ({modify_wall / ping_pipe:.2f} x), "
        f"{modify_cpu:6.1f} us CPU"
    )
    print(
        f"  install one by one         {install_seq:8.1f} us/session "
        f"({install_seq / ping_seq:.2f} x ping)"
    )
    print(
        f"  install pipelined          {install_pipe:8.1f} us/session "
        f"({install_pipe / ping_pipe:.2f} x pipelined ping){f', {failed} FAILED' if failed else ''}"
    )
    print(f"  remove one by one          {remove_seq:8.1f} us/session")
    print(
        f"  usage refresh, usage_get   {refresh:8.1f} us/session "
        f"({refresh / ping_pipe:.2f} x pipelined ping)"
    )
    print(
        f"  usage refresh, usage dump  {refresh_dump:8.1f} us/session "
        f"({refresh_dump / ping_pipe:.2f} x pipelined ping; the cache's cost per usage_refresh)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
