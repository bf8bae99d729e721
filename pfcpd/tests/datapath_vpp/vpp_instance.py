"""The vpp datapath tests' VPP (tests/vpp_launch.VppProcess): loopback interfaces to bind
(loop0, loop1, loop2) and a packet-generator interface (pg0, up, 198.51.100.254/24) to
inject packets with, made by its startup-config; started and stopped (or killed and
started again, for the restart tests) by the test, pfcpd being the API client. Where VPP and
the plugin are found, and what a test skips with when they are not: tests/vpp_launch.py.
"""

from __future__ import annotations

from pathlib import Path

from vpp_launch import PLUGIN, REPO, Missing, VppProcess, find_plugin, find_vpp

__all__ = ["LOOPBACKS", "PLUGIN", "REPO", "Missing", "VppInstance", "find_plugin", "find_vpp"]

LOOPBACKS = 3  # loop0, loop1, loop2


class VppInstance(VppProcess):
    """setup: CLI commands the startup-config runs after its own."""

    def __init__(self, workdir: Path, workers: int = 0, setup: str = "") -> None:
        super().__init__(workdir, workers=workers, setup=setup, buffers=8192)

    def setup_cli(self) -> str:
        return (
            "".join("create loopback interface\n" for _ in range(LOOPBACKS))
            + "create packet-generator interface pg0\n"
            + "set interface state pg0 up\n"
            + "set interface ip address pg0 198.51.100.254/24\n"
            + self.setup
        )

    def ready(self) -> bool:
        # once the startup-config has run: VPP answers its API socket before that
        return self.api_socket.exists() and "pg0" in self.cli("show interface")
