"""Packing a session's rules (`pfcpd.session.packing.pack_rules`, the `_deflate` encoder)
against zlib's level 3 from a copy of a compressor with the dictionary loaded (what packed
them before), in the same run: microseconds a pack and the ratio, and the packed sizes.

The inputs are what the engine packs: the encoded rules of sessions it established (on the
local datapath, as the session tests do), the usual shape with its own F-TEID, UE address
and gNB TEID each, a few other shapes, and a session of 16 PDRs (~3 KiB of rules).

Run: .venv/bin/python bench/rules_packing.py [--rounds N]
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

sys.path[:0] = [
    str(Path(__file__).resolve().parents[1] / "pfcpd" / "tests" / d)
    for d in ("", "session")
]

from pfcpd.datapath.local.engine import LocalDatapath
from pfcpd.pfcp import IE
from pfcpd.session import establishment, packing, session
from pfcpd.smfsim import rules as R
from session_harness import Harness, many_flows

USUAL = 500


def engine_rules() -> dict[str, list[bytes]]:
    """What the engine packs, by shape."""
    got: list[bytes] = []

    def recorded(encoded: bytes) -> bytes:
        got.append(encoded)
        return packing.pack_rules(encoded)

    # (an establishment packs in establishment.py, or the long way in Session.set_rules)
    establishment.pack_rules = session.pack_rules = recorded  # type: ignore[assignment]
    pools = {
        "internet": (
            ipaddress.ip_network("10.32.0.0/16"),
            ipaddress.ip_network("2001:db8::/48"),
        )
    }
    dp = LocalDatapath(expected_sessions=USUAL + 64)
    shapes: dict[str, list[bytes]] = {}
    try:
        h = Harness(dp, pools=pools)
        cases: list[tuple[str, int, Callable[[int], list[IE]]]] = [
            ("usual", USUAL, lambda n: R.session_rules(gnb_teid=0x100 + n)),
            ("v6", 20, lambda n: R.session_rules(v6=True, gnb_teid=0x100 + n)),
            (
                "dual_stack",
                20,
                lambda n: R.session_rules(dual_stack=True, gnb_teid=0x100 + n),
            ),
            (
                "mbr+threshold",
                20,
                lambda n: R.session_rules(mbr_kbps=(n, 2 * n), volume_threshold=n),
            ),
            ("16 PDRs", 5, lambda n: many_flows()),
        ]
        seid = 0
        for name, count, make in cases:
            got.clear()
            for _ in range(count):
                seid += 1
                h.establish(*make(seid), cp_seid=seid)
            shapes[name] = list(got)
    finally:
        dp.close()
        establishment.pack_rules = session.pack_rules = packing.pack_rules
    return shapes


_ZLIB = zlib.compressobj(
    3, zlib.DEFLATED, -10, 2, zlib.Z_DEFAULT_STRATEGY, packing._DICTIONARY
)


def zlib_level3(encoded: bytes) -> bytes:
    c = _ZLIB.copy()
    return c.compress(encoded) + c.flush()


def per_pack(pack: Callable[[bytes], bytes], inputs: list[bytes], repeat: int) -> float:
    """Seconds a pack, the best of ``repeat`` passes over ``inputs``."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for encoded in inputs:
            pack(encoded)
        best = min(best, (time.perf_counter() - t) / len(inputs))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    shapes = engine_rules()
    for name, inputs in shapes.items():
        for encoded in inputs:
            assert packing.unpack_rules(packing.pack_rules(encoded)) == encoded
        repeat = max(3, 2_000_000 // sum(map(len, inputs)))
        ours, ref = [], []
        for _ in range(
            args.rounds
        ):  # (alternating, so that a change of load hits both)
            ref.append(per_pack(zlib_level3, inputs, repeat))
            ours.append(per_pack(packing.pack_rules, inputs, repeat))
        raw = sum(map(len, inputs)) / len(inputs)
        size = sum(len(packing.pack_rules(e)) for e in inputs) / len(inputs)
        size_ref = sum(len(zlib_level3(e)) for e in inputs) / len(inputs)
        same = sum(packing.pack_rules(e) == zlib_level3(e) for e in inputs)
        print(
            f"{name:14s} {len(inputs):4d} x {raw:6.0f} B: pack {min(ours) * 1e6:6.2f} us, "
            f"zlib level 3 {min(ref) * 1e6:6.2f} us (ratio {min(ours) / min(ref):.3f}); "
            f"{size:6.1f} B against {size_ref:6.1f} B ({same} streams the same)"
        )


if __name__ == "__main__":
    main()
