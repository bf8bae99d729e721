"""The plugin tests' VPP (tests/vpp_launch.VppProcess), started at construction with a
vpp_papi client connected to it (VPP's API JSON and the plugin's), CLI commands through
the API, and packet-generator interfaces fed from and captured to pcap files. Where VPP and
the plugin are found: tests/vpp_launch.py.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vpp_launch import SYSTEM_API_DIR, Missing, VppProcess, find_plugin, find_upf_api_json, find_vpp


def import_vpp_papi() -> Any:
    """vpp_papi from the environment, else from the python3-vpp-api Debian package."""
    try:
        import vpp_papi
    except ImportError:
        for d in glob.glob("/usr/lib/python3/dist-packages"):
            if Path(d, "vpp_papi").is_dir():
                sys.path.append(d)
        import vpp_papi
    return vpp_papi


def missing() -> str | None:
    """Why the VPP tests cannot run here, or None."""
    try:
        find_vpp()
        plugin = find_plugin()
    except Missing as exc:
        return str(exc)
    if not SYSTEM_API_DIR.is_dir():
        return "VPP not installed (no /usr/share/vpp/api)"
    if find_upf_api_json(plugin) is None:
        return "upf plugin not built (no upf.api.json beside it)"
    try:
        import_vpp_papi()
    except ImportError:
        return "vpp_papi not installed (python3-vpp-api)"
    if os.geteuid() != 0:
        return "VPP needs root"
    return None


class Vpp(VppProcess):
    """One VPP process and an API client connected to it."""

    def __init__(
        self,
        tmp: Path,
        workers: int = 0,
        extra_plugins: tuple[str, ...] = (),
        heap: str = "512M",
        poll_sleep_usec: int = 100,
    ) -> None:
        super().__init__(
            tmp,
            workers=workers,
            extra_plugins=extra_plugins,
            heap=heap,
            poll_sleep_usec=poll_sleep_usec,
        )
        self.tmp = tmp
        upf_json = find_upf_api_json(self.plugin)
        assert upf_json is not None
        self.start()
        papi = import_vpp_papi()
        apifiles = sorted(str(p) for p in SYSTEM_API_DIR.glob("core/*.api.json"))
        apifiles += sorted(
            str(p) for p in SYSTEM_API_DIR.glob("plugins/*.api.json") if p.name != "upf.api.json"
        )
        apifiles.append(str(upf_json))
        self.client = papi.VPPApiClient(
            apifiles=apifiles, server_address=str(self.api_socket), use_socket=True
        )
        for _ in range(100):
            try:
                self.client.connect("upf-test")
                break
            except Exception:  # the socket may not accept yet
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"cannot connect to VPP's API: {self.tail()}")
        self.api = self.client.api

    def log_tail(self) -> str:
        return self.tail(50)

    def cli(self, cmd: str) -> str:
        r = self.api.cli_inband(cmd=cmd)
        if r.retval != 0:
            raise RuntimeError(f"{cmd!r}: retval {r.retval}: {r.reply}")
        return str(r.reply)

    def stop(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            with contextlib.suppress(Exception):  # VPP may be gone already
                client.disconnect()
            self.client = None
        super().stop()

    # packet generator -------------------------------------------------------------------

    def pg_create(self, n: int, ip4: str, ip6: str | None = None) -> str:
        """Create pg<n>, give it addresses, bring it up; returns its MAC address."""
        self.cli(f"create packet-generator interface pg{n}")
        self.cli(f"set interface ip address pg{n} {ip4}")
        if ip6:
            self.cli(f"enable ip6 interface pg{n}")
            self.cli(f"set interface ip address pg{n} {ip6}")
        self.cli(f"set interface state pg{n} up")
        hw = self.cli(f"show hardware-interfaces pg{n}")
        m = re.search(r"Ethernet address ([0-9a-f:]{17})", hw)
        assert m, hw
        return m.group(1)

    def sw_if_index(self, name: str) -> int:
        for i in self.api.sw_interface_dump(name_filter_valid=True, name_filter=name):
            if i.interface_name == name:
                return int(i.sw_if_index)
        raise KeyError(name)

    def send(self, n: int, packets: Iterable[Any], name: str) -> None:
        """Inject packets (scapy Ether frames) as received on pg<n>."""
        from scapy.utils import wrpcap

        pcap = self.tmp / f"in-{name}.pcap"
        wrpcap(str(pcap), list(packets))
        self.cli(f"packet-generator new pcap {pcap} source pg{n} name {name}")
        self.cli(f"packet-generator enable-stream {name}")
        deadline = time.monotonic() + 10
        while name in self.cli("show packet-generator") and time.monotonic() < deadline:
            if re.search(rf"{name}\s+No", self.cli("show packet-generator")):
                break
            time.sleep(0.05)
        self.cli(f"packet-generator delete {name}")

    def capture(self, n: int, name: str, count: int) -> Path:
        pcap = self.tmp / f"out-{name}.pcap"
        self.cli(f"packet-generator capture pg{n} pcap {pcap} count {count}")
        return pcap

    def captured(self, n: int, pcap: Path, count: int, timeout: float = 5.0) -> list[Any]:
        """The packets captured on pg<n> (waits for `count`, then stops the capture), without
        the link-local multicast VPP itself sends on an interface (IPv6 MLD reports and
        neighbour discovery to 33:33:xx:xx:xx:xx), which are no test's traffic."""
        from scapy.utils import rdpcap

        def read() -> list[Any]:
            if not (pcap.exists() and pcap.stat().st_size > 24):
                return []
            return [p for p in rdpcap(str(pcap)) if not str(p.dst).startswith("33:33:")]

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pkts = read()
            except Exception:  # file still being written
                pkts = []
            if len(pkts) >= count:
                return pkts
            time.sleep(0.05)
        self.cli(f"packet-generator capture pg{n} disable")
        return read()
