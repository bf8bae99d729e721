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
from pathlib import Path
from typing import Any, Protocol

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
