"""``pfcpd run`` builds, starts and stops the datapath of ``datapath.kind``."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from node_harness import base_config, free_n3_address, free_port, merge

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root (CAP_NET_ADMIN) for the local datapath's TUN devices"
)

ECHO_REQUEST = bytes([0x32, 1, 0, 4, 0, 0, 0, 0, 0x12, 0x34, 0, 0])


def run_pfcpd(tmp: Path, overrides: dict[str, object]) -> subprocess.CompletedProcess[str]:
    """``pfcpd run`` expected to refuse to start (exits on its own)."""
    config = merge(base_config(tmp, free_port(), free_port(socket.SOCK_STREAM)), overrides)
    path = tmp / "pfcpd.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [sys.executable, "-m", "pfcpd", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_vpp_datapath_without_vpp_is_a_clear_start_error(tmp_path: Path) -> None:
    """kind vpp builds the vpp datapath: with no VPP behind the API socket, pfcpd says so
    after connect_timeout and exits 1."""
    sock = tmp_path / "no-vpp" / "api.sock"
    vpp = {"api_socket": str(sock), "connect_timeout": 1}
    proc = run_pfcpd(tmp_path, {"datapath": {"kind": "vpp", "vpp": vpp}})
    assert proc.returncode == 1
    assert f"vpp datapath: VPP did not answer at {sock} within 1 s" in proc.stderr


def test_n3_port_in_use_is_a_clear_start_error(tmp_path: Path) -> None:
    n3 = free_n3_address()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((n3, 2152))
        proc = run_pfcpd(tmp_path, {"interfaces": {"n3": {"address": n3}}})
    assert proc.returncode == 1
    assert f"local datapath: cannot open GTP-U on {n3}:2152" in proc.stderr


def _link(dev: str) -> str:
    return subprocess.run(
        ["ip", "-o", "link", "show", "dev", dev], capture_output=True, text=True
    ).stdout


@needs_root
def test_minimal_configuration_runs_the_local_datapath(start_pfcpd: Any, tmp_path: Path) -> None:
    """The minimal configuration plus `datapath: {kind: local}`: GTP-U answers on
    interfaces.n3.address:2152, the network instance's TUN is up with its UE pool routed to
    it, and a stop removes them."""
    tun = f"c2t{random.randint(0, 99999)}"
    pool = f"198.18.{random.randint(0, 255)}.0/24"
    daemon = start_pfcpd(
        {
            "datapath": {"kind": "local", "n6_tun": {"internet": tun}},
            "network_instances": {"internet": {"ue_pools": [pool]}},
        }
    )
    n3 = daemon.config["interfaces"]["n3"]["address"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gnb:
        gnb.settimeout(3)
        gnb.sendto(ECHO_REQUEST, (n3, 2152))
        answer, source = gnb.recvfrom(100)
    assert source == (n3, 2152)
    assert answer[1] == 2 and answer[8:10] == b"\x12\x34"  # Echo Response, same sequence
    assert "state UP" in _link(tun) or ",UP" in _link(tun)
    routes = subprocess.run(
        ["ip", "-o", "route", "show", pool], capture_output=True, text=True
    ).stdout
    assert f"dev {tun}" in routes
    assert daemon.stop() == 0
    assert _link(tun) == ""  # the TUN went with the process


def test_the_installed_pfcpd_carries_its_core_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """pfcpd's build puts libupfcore.so in the package; without UPF_CORE_LIB it is the one
    the local datapath loads (the repo's build/core is not needed)."""
    from pfcpd.datapath.local import corelib

    monkeypatch.delenv(corelib.ENV_VAR, raising=False)
    assert corelib.packaged_path().is_file(), "reinstall pfcpd (make venv): no packaged library"
    assert corelib.find_library() == corelib.packaged_path()
    lib = corelib.load()
    assert lib.lib.upfcore_ctx_new is not None
