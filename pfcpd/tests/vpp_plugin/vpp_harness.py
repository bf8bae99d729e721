"""A private VPP for the plugin tests: its own startup.conf, sockets and API segment
prefix in a temporary directory, no DPDK (only upf_plugin.so is loaded), packet-generator
interfaces (pg0 = N3 side, pg1 = N6 side) fed from and captured to pcap files.

Nothing here touches a system VPP: the process is started by the test and killed by pid.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vpp_cpus import vpp_command

REPO = Path(__file__).resolve().parents[3]
SYSTEM_PLUGIN_DIRS = glob.glob("/usr/lib/*/vpp_plugins")
SYSTEM_API_DIR = Path("/usr/share/vpp/api")


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


def find_plugin() -> Path | None:
    """upf_plugin.so: $UPF_VPP_PLUGIN_DIR, else the build trees `make test-core` writes."""
    cands = []
    if os.environ.get("UPF_VPP_PLUGIN_DIR"):
        cands.append(Path(os.environ["UPF_VPP_PLUGIN_DIR"]))
    cands += [REPO / "build" / d / "lib" / "vpp_plugins" for d in ("core", "core-release", "vpp")]
    for d in cands:
        if (d / "upf_plugin.so").is_file():
            return d
    return None


def find_upf_api_json(plugin_dir: Path) -> Path | None:
    build = plugin_dir.parent.parent
    for p in (build / "vpp" / "upf.api.json", SYSTEM_API_DIR / "plugins" / "upf.api.json"):
        if p.is_file():
            return p
    return None


def missing() -> str | None:
    """Why the VPP tests cannot run here, or None."""
    if not shutil.which("vpp"):
        return "VPP not installed (no vpp binary)"
    if not SYSTEM_API_DIR.is_dir():
        return "VPP not installed (no /usr/share/vpp/api)"
    plugin = find_plugin()
    if plugin is None:
        return "upf plugin not built (no build/*/lib/vpp_plugins/upf_plugin.so)"
    if find_upf_api_json(plugin) is None:
        return "upf plugin not built (no upf.api.json)"
    try:
        import_vpp_papi()
    except ImportError:
        return "vpp_papi not installed (python3-vpp-api)"
    if os.geteuid() != 0:
        return "VPP needs root"
    return None


STARTUP = """
unix {{
  nodaemon
  cli-listen {tmp}/cli.sock
  log {tmp}/vpp.log
  poll-sleep-usec 100
}}
api-segment {{ prefix {prefix} }}
socksvr {{ socket-name {tmp}/api.sock }}
statseg {{ socket-name {tmp}/stats.sock size 32m page-size 4k }}
memory {{ main-heap-size {heap} main-heap-page-size 4k }}
buffers {{ buffers-per-numa 16384 page-size 4k }}
cpu {{ {cpu} }}
plugins {{
  path {plugin_path}
  plugin default {{ disable }}
  plugin upf_plugin.so {{ enable }}{extra_plugins}
}}
"""


class Vpp:
    """One VPP process and an API client connected to it."""

    def __init__(
        self, tmp: Path, workers: int = 0, extra_plugins: tuple[str, ...] = (), heap: str = "512M"
    ) -> None:
        self.tmp = tmp
        plugin_dir = find_plugin()
        assert plugin_dir is not None
        upf_json = find_upf_api_json(plugin_dir)
        assert upf_json is not None
        self.prefix = f"upftest{os.getpid()}x{id(self) & 0xFFFF:x}"
        conf_path = tmp / "startup.conf"
        argv, cpu = vpp_command("vpp", conf_path, workers, tmp)
        conf = STARTUP.format(
            tmp=tmp,
            prefix=self.prefix,
            cpu=cpu,
            heap=heap,
            extra_plugins="".join(f"\n  plugin {p} {{ enable }}" for p in extra_plugins),
            plugin_path=":".join([str(plugin_dir), *SYSTEM_PLUGIN_DIRS]),
        )
        conf_path.write_text(conf)
        self.out = open(tmp / "vpp.out", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        papi = import_vpp_papi()
        apifiles = sorted(str(p) for p in SYSTEM_API_DIR.glob("core/*.api.json"))
        apifiles += sorted(
            str(p) for p in SYSTEM_API_DIR.glob("plugins/*.api.json") if p.name != "upf.api.json"
        )
        apifiles.append(str(upf_json))
        self.api_sock = tmp / "api.sock"
        deadline = time.monotonic() + 30
        while not self.api_sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"VPP did not start: {self.log_tail()}")
            time.sleep(0.1)
        self.client = papi.VPPApiClient(
            apifiles=apifiles, server_address=str(self.api_sock), use_socket=True
        )
        for _ in range(100):
            try:
                self.client.connect("upf-test")
                break
            except Exception:  # the socket may not accept yet
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"cannot connect to VPP's API: {self.log_tail()}")
        self.api = self.client.api

    def log_tail(self) -> str:
        text = ""
        for name in ("vpp.out", "vpp.log"):
            p = self.tmp / name
            if p.exists():
                text += p.read_text(errors="replace")[-3000:]
        return text

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
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.out.close()

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
