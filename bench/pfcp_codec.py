"""PFCP codec benchmark: decodes/s and encodes/s of a realistic Session Establishment Request
(2 PDRs, 2 FARs, 1 QER, 1 URR, UE IP, CH F-TEID) with our codec, against scapy's PFCP()
parse of the same bytes in the same run. Prints one line per case and the ratios.

Every case cycles through SESSIONS distinct requests (own SEID, UE address, sequence number,
downlink TEID), as an SMF's load would. The decoder caches IEs and rule groups whose octets
repeat from session to session (IDs, flags, the QER, the URR), so decoding is measured twice:
- cold: the decode cache off, every IE decoded every time (what the first sessions of
  a new SMF, or a peer sending every IE distinct, cost);
- warm: the cache on and filled by the run itself (steady state under an SMF's load: only
  the per-session IEs and groups are decoded).
scapy has no cache: its one figure is the baseline for both.

Run: make bench   (or .venv/bin/python bench/pfcp_codec.py [--seconds N])
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pfcpd" / "tests"))

from pfcpd.pfcp import Grouped, IEType, Message, codec, decode, encode
from pfcpd.pfcp import ies_address as A
from sample_messages import session_establishment_request

SESSIONS = 20000


def per_session(n: int) -> Message:
    """The sample request with the fields that differ from session to session."""
    msg = session_establishment_request(seq=n + 1)
    ue = f"10.45.{n >> 8 & 0xFF}.{n & 0xFF}"
    msg.ies[1] = A.FSEID(0x1000 + n, ipv4="127.0.0.2")

    def patch(group: Grouped) -> None:
        for i, ie in enumerate(group.ies):
            if isinstance(ie, Grouped):
                patch(ie)
            elif isinstance(ie, A.UEIPAddress):
                group.ies[i] = A.UEIPAddress(ipv4=ue, source=ie.source)
            elif isinstance(ie, A.OuterHeaderCreation):
                group.ies[i] = A.OuterHeaderCreation(
                    ie.description, teid=0x10000 + n, ipv4=ie.ipv4
                )

    for ie in msg.ies:
        if isinstance(ie, Grouped) and ie.type in (
            IEType.CREATE_PDR,
            IEType.CREATE_FAR,
        ):
            patch(ie)
    return msg


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn``, best of three runs of ``seconds`` / 3 each."""
    best = 0.0
    for _ in range(3):
        n, start = 0, time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for _ in range(50):
                fn()
            n += 50
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, n / (now - start))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per case")
    args = parser.parse_args()

    msgs = [per_session(n) for n in range(SESSIONS)]
    datas = [encode(m) for m in msgs]
    assert all(decode(d) == m for d, m in zip(datas, msgs, strict=True))
    assert len(set(datas)) == SESSIONS
    data = datas[0]
    saved_bound = codec.CACHE_MAX_BYTES
    counter = iter(range(10**12))
    ours_encode = rate(lambda: encode(msgs[next(counter) % SESSIONS]), args.seconds)
    # The decode cases hold octets only: 20000 message trees kept alive for the encode case
    # would make every garbage collection pass walk them, which is the bench's cost, not
    # the decoder's.
    msgs.clear()

    def decode_all() -> float:
        return rate(lambda: decode(datas[next(counter) % SESSIONS]), args.seconds)

    codec.CACHE_MAX_BYTES = 1  # no entry fits: nothing is cached
    codec.reload_tables()
    cold_decode = decode_all()
    codec.CACHE_MAX_BYTES = saved_bound
    codec.reload_tables()
    warm_decode = decode_all()
    print(
        f"message: session establishment request, {len(data)} octets, {SESSIONS} sessions"
    )
    print(f"pfcpd decode, cold (decode cache off)  {cold_decode:10,.0f} msg/s")
    print(f"pfcpd decode, warm (decode cache on)   {warm_decode:10,.0f} msg/s")
    print(f"pfcpd encode                           {ours_encode:10,.0f} msg/s")
    logging.getLogger("scapy").setLevel(logging.ERROR)  # its APN/DNN parse warnings
    try:
        from scapy.contrib.pfcp import PFCP
    except ImportError:
        print("scapy not installed: no baseline (pip install scapy)")
        return 0
    scapy_decode = rate(lambda: PFCP(datas[next(counter) % SESSIONS]), args.seconds)
    print(f"scapy PFCP() parse (baseline, no cache) {scapy_decode:9,.0f} msg/s")
    print(
        f"ratio decode pfcpd/scapy: cold {cold_decode / scapy_decode:.1f}x, "
        f"warm {warm_decode / scapy_decode:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
