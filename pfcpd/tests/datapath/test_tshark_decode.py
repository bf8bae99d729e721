"""Bytes the local datapath writes, decoded by tshark's GTP dissector (not ours, not scapy's)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from dp_programs import DL_TEID, DN, N3_GNB, QFI, UE, basic_program
from scapy.layers.inet import IP, UDP
from scapy.packet import Raw, raw
from scapy.utils import wrpcap

from pfcpd.datapath.local.engine import LocalDatapath, Verdict

FIELDS = [
    "ip.dst",
    "ip.dsfield.dscp",
    "udp.dstport",
    "gtp.teid",
    "gtp.ext_hdr.pdu_ses_con.pdu_type",
    "gtp.ext_hdr.pdu_ses_con.qos_flow_id",
    "gtp.message",
    "_ws.malformed",
]


def test_tshark_decodes_the_encapsulation(datapath: LocalDatapath, tmp_path: Path) -> None:
    if not shutil.which("tshark"):
        pytest.skip("tshark not installed (Debian package tshark)")
    datapath.install(0x42, basic_program(dscp=46))
    inner = IP(src=str(DN), dst=str(UE)) / UDP(sport=40000, dport=4000) / Raw(b"data")
    res = datapath.process_dl(raw(inner))
    assert res.verdict == Verdict.FORWARD
    pcap = tmp_path / "dl.pcap"
    wrpcap(str(pcap), [IP(res.output)])
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"]
        + [arg for f in FIELDS for arg in ("-e", f)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dst, dscp, port, teid, pdu_type, qfi, msg, malformed = out.split("|")
    assert dst == str(N3_GNB) and int(dscp) == 46 and int(port) == 2152
    assert int(teid, 0) == DL_TEID
    assert int(pdu_type) == 0 and int(qfi) == QFI
    assert int(msg, 0) == 255
    assert malformed == ""
