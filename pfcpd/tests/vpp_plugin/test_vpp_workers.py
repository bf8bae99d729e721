"""The plugin with 2 worker threads: every packet of a session is handed to the session's
owner thread, so its counters are exact; traffic over several sessions while they are
modified does not lose or leak packets."""

from __future__ import annotations

import random
import re

from scapy.layers.inet import IP, UDP
from scapy.packet import Raw
from test_vpp_plugin import CREATE, DELETE, MODIFY, SERVER, gtpu, program, session_rules
from vpp_lab import Lab

SEIDS = [0x40, 0x41, 0x42, 0x43]  # owners: worker threads 1 and 2 (seid % 2)


def ue(i: int) -> str:
    return f"10.46.0.{i + 2}"


def test_owner_threads_and_exact_counts(lab2w: Lab) -> None:
    lab = lab2w
    for i, seid in enumerate(SEIDS):
        program(lab, seid, CREATE, session_rules(0x400 + i, ue(i), 0x500 + i, urr={}))
    owners = {d.seid: d.owner_thread for d in lab.api.upf_session_dump()}
    assert {owners[s] for s in SEIDS} == {1, 2}
    pkts = [
        gtpu(lab, 0x400 + i, IP(src=ue(i), dst=SERVER) / UDP(sport=1, dport=2) / Raw(b"w" * 40))
        for i in range(len(SEIDS))
        for _ in range(50)
    ]
    random.Random(7).shuffle(pkts)
    cap = lab.vpp.capture(1, "w", len(pkts))
    lab.vpp.send(0, pkts, "w")
    # modifications while the traffic flows: published without the worker barrier
    for i, seid in enumerate(SEIDS):
        program(lab, seid, MODIFY, session_rules(0x400 + i, ue(i), 0x500 + i, urr={}))
    got = lab.vpp.captured(1, cap, len(pkts))
    assert len(got) == len(pkts)
    for seid in SEIDS:
        r = lab.api.upf_usage_get(seid=seid, urr_id=1, reset=False)
        assert r.retval == 0 and r.usage[0].pkts_ul == 50, (seid, r)
    # every packet went through the handoff node; each worker's input forwarded its own
    errors = lab.vpp.cli("show errors")
    counts = [(int(m[1]), m[2]) for m in re.finditer(r"^\s*(\d+)\s+(upf-gtpu4-\S+)", errors, re.M)]
    assert sum(c for c, node in counts if node == "upf-gtpu4-handoff") == len(pkts), errors
    inputs = [c for c, node in counts if node == "upf-gtpu4-input"]
    assert len(inputs) == 2 and sum(inputs) == len(pkts), errors
    for seid in SEIDS:
        program(lab, seid, DELETE, [])
