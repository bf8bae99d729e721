"""Decoders we did not write, as test oracles: tshark's PFCP dissector and pycrate.

Tests that need one skip with a reason naming what is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from xml.etree import ElementTree

import pytest

TSHARK_CLEAN_FILTER = (
    "pfcp && (_ws.malformed || _ws.expert.severity >= warning"
    " || pfcp.ie_not_decoded || pfcp.ie_data_not_decoded)"
)


def require_tshark() -> None:
    for tool in ("tshark", "text2pcap"):
        if shutil.which(tool) is None:
            pytest.skip(
                f"{tool} not installed (Debian package tshark; make test installs it as root)"
            )


def _pcap_of(datagrams: list[bytes], directory: str) -> str:
    """Write datagrams as UDP 8805 <-> 8805 frames with text2pcap; returns the pcap path."""
    hex_path = os.path.join(directory, "in.txt")
    with open(hex_path, "w") as f:
        for data in datagrams:
            f.write("0000 " + data.hex(" ") + "\n")
    pcap = os.path.join(directory, "out.pcap")
    subprocess.run(["text2pcap", "-q", "-u", "8805,8805", hex_path, pcap], check=True)
    return pcap


def _tshark(pcap: str, *args: str) -> str:
    proc = subprocess.run(
        ["tshark", "-n", "-r", pcap, *args], capture_output=True, text=True, check=True
    )
    return proc.stdout


def tshark_problems(datagrams: list[bytes]) -> list[str]:
    """Frames (1-based, in input order) tshark flags as malformed, with warnings, or with
    IEs it could not decode; each with its expert info. Empty when all are clean."""
    require_tshark()
    with tempfile.TemporaryDirectory() as tmp:
        pcap = _pcap_of(datagrams, tmp)
        out = _tshark(
            pcap,
            "-Y",
            TSHARK_CLEAN_FILTER,
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "_ws.expert",
        )
    return [line for line in out.splitlines() if line.strip()]


class Receiver(Protocol):
    """A test's peer of pfcpd: what pfcpd sent it, and close()."""

    received: list[bytes]

    def close(self) -> None: ...


@contextmanager
def tshark_checked(factory: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """For a fixture: yields a maker of peers (``factory``'s results, each a
    :class:`Receiver`); at the end closes them, and every datagram pfcpd sent them must pass
    tshark's checks (when tshark is installed: the tests that rely on it skip without it)."""
    peers: list[Receiver] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        peer = factory(*args, **kwargs)
        peers.append(peer)
        return peer

    yield make
    received = [d for p in peers for d in p.received]
    for p in peers:
        p.close()
    if received and shutil.which("tshark") and shutil.which("text2pcap"):
        problems = tshark_problems(received)
        assert not problems, f"tshark flags datagrams pfcpd sent: {problems}"


def tshark_fields(datagrams: list[bytes], fields: list[str]) -> list[dict[str, list[str]]]:
    """One dict per datagram: field name -> every value tshark shows for it, in order."""
    require_tshark()
    args = ["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-E", "separator=\t"]
    for name in fields:
        args += ["-e", name]
    with tempfile.TemporaryDirectory() as tmp:
        pcap = _pcap_of(datagrams, tmp)
        out = _tshark(pcap, *args)
    rows = []
    for line in out.splitlines():
        cols = line.split("\t")
        rows.append(
            {name: (col.split("|") if col else []) for name, col in zip(fields, cols, strict=False)}
        )
    return rows


@dataclass
class TsharkIE:
    """An IE as tshark's PFCP dissector shows it: its type, its own fields (name -> every
    value shown) and, a grouped IE, the IEs it holds."""

    type: int
    fields: dict[str, list[str]] = field(default_factory=dict)
    children: list[TsharkIE] = field(default_factory=list)

    def all(self, ie_type: int) -> list[TsharkIE]:
        """The IEs of ``ie_type`` this group holds (not deeper)."""
        return [c for c in self.children if c.type == ie_type]


def tshark_ies(datagrams: list[bytes]) -> list[list[TsharkIE]]:
    """Per datagram, its message's IEs as tshark's PFCP dissector nests them (its PDML)."""
    require_tshark()
    with tempfile.TemporaryDirectory() as tmp:
        pcap = _pcap_of(datagrams, tmp)
        out = _tshark(pcap, "-T", "pdml", "-O", "pfcp")
    messages = []
    for packet in ElementTree.fromstring(out).iter("packet"):
        proto = next(p for p in packet.iter("proto") if p.get("name") == "pfcp")
        messages.append(_ies_of(proto).children)
    return messages


def _ies_of(node: ElementTree.Element, ie_type: int = 0) -> TsharkIE:
    """The IE of PDML element ``node`` (a message: type 0): its fields and the IEs in it
    (elements with an ``pfcp.ie_type`` field of their own)."""
    ie = TsharkIE(ie_type)
    for child in node.findall("field"):
        own = child.find("field[@name='pfcp.ie_type']")
        if own is not None:
            ie.children.append(_ies_of(child, int(own.get("show", "0"))))
        elif child.get("name"):
            ie.fields.setdefault(child.get("name", ""), []).append(child.get("show", ""))
    return ie


# Message types pycrate 0.8 does not implement (session set modification).
PYCRATE_UNKNOWN_TYPES = frozenset({16, 17})


def pycrate_error(data: bytes) -> str | None:
    """pycrate's verdict on one PFCP message: None when it parses with no error."""
    from pycrate_mobile.TS29244_PFCP import parse_PFCP

    try:
        _, err = parse_PFCP(data)
    except Exception as exc:  # pycrate raises on some length overflows
        return f"pycrate raised {exc!r}"
    return None if err == 0 else f"pycrate error {err}"


def pcaps_dir() -> Path:
    """The public capture folder (../shared/pcaps beside the repo, or $UPF_PCAPS_DIR)."""
    env = os.environ.get("UPF_PCAPS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "pcaps"


def require_pcaps() -> Path:
    path = pcaps_dir()
    if not path.is_dir():
        pytest.skip(f"public captures folder {path} absent (set UPF_PCAPS_DIR)")
    return path
