"""A private VPP for the tests: its own startup.conf in a temporary directory (API socket,
CLI socket, stats socket, shared memory prefix all its own; no DPDK, 4 KiB pages; the main
loop sleeps 100 us when idle instead of spinning on a shared machine), the
upf plugin loaded, loopback interfaces to bind, a packet-generator interface (pg0, up,
198.51.100.254/24) to inject packets with. Started and stopped (or killed and started
again, for the restart tests) by the test.

What it needs, found as follows (a test skips naming what is missing):
- VPP: ``vpp`` on PATH (VPP's .debs);
- the upf plugin: ``$UPF_PLUGIN_SO``, else the upf-plugin .deb's
  ``/usr/lib/x86_64-linux-gnu/vpp_plugins/upf_plugin.so``, else a build under
  ``build*/`` of this repository.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from vpp_cpus import vpp_command

REPO = Path(__file__).resolve().parents[3]
VPP_PLUGINS = Path("/usr/lib/x86_64-linux-gnu/vpp_plugins")
PLUGIN = "upf_plugin.so"
LOOPBACKS = 3  # loop0, loop1, loop2


class Missing(Exception):
    """What is missing to run VPP with the plugin (the skip reason)."""


def find_vpp() -> str:
    vpp = shutil.which("vpp")
    if vpp is None:
        raise Missing("VPP not installed (no vpp on PATH)")
    return vpp


def find_plugin() -> Path:
    env = os.environ.get("UPF_PLUGIN_SO")
    if env:
        if not Path(env).is_file():
            raise Missing(f"upf plugin not built: UPF_PLUGIN_SO={env} does not exist")
        return Path(env)
    if (VPP_PLUGINS / PLUGIN).is_file():
        return VPP_PLUGINS / PLUGIN
    built = sorted(REPO.glob(f"build*/**/{PLUGIN}"), key=lambda p: p.stat().st_mtime)
    if built:
        return built[-1]
    raise Missing(f"upf plugin not built (no {PLUGIN}; set UPF_PLUGIN_SO)")


class VppInstance:
    def __init__(self, workdir: Path, workers: int = 0, setup: str = "") -> None:
        self.vpp = find_vpp()
        self.plugin = find_plugin()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.api_socket = self.dir / "api.sock"
        self.cli_socket = self.dir / "cli.sock"
        self.log = self.dir / "vpp.log"
        self.workers = workers
        self.setup = setup  # CLI commands the startup-config runs after its own
        self.proc: subprocess.Popen[bytes] | None = None
        plugin_dir = self.dir / "plugins"
        plugin_dir.mkdir(exist_ok=True)
        link = plugin_dir / PLUGIN
        if not link.exists():
            link.symlink_to(self.plugin)
        self.plugin_dir = plugin_dir

    def startup_conf(self) -> str:
        setup = self.dir / "setup.cli"
        setup.write_text(
            "".join("create loopback interface\n" for _ in range(LOOPBACKS))
            + "create packet-generator interface pg0\n"
            + "set interface state pg0 up\n"
            + "set interface ip address pg0 198.51.100.254/24\n"
            + self.setup
        )
        _, cpu = vpp_command(self.vpp, self.dir / "startup.conf", self.workers, self.dir)
        return f"""
unix {{
  nodaemon cli-listen {self.cli_socket} log {self.log} startup-config {setup}
  poll-sleep-usec 100
}}
api-segment {{ prefix pfcpd-test-{os.getpid()}-{id(self) & 0xFFFF} }}
socksvr {{ socket-name {self.api_socket} }}
statseg {{ socket-name {self.dir / "stats.sock"} size 32M page-size 4k }}
memory {{ main-heap-size 512M main-heap-page-size 4k }}
buffers {{ buffers-per-numa 8192 page-size 4k }}
plugins {{
  path {VPP_PLUGINS}:{self.plugin_dir}
  plugin default {{ disable }}
  plugin upf_plugin.so {{ enable }}
}}
cpu {{ {cpu} }}
"""

    def start(self, timeout: float = 30.0) -> None:
        conf = self.dir / "startup.conf"
        conf.write_text(self.startup_conf())
        argv, _ = vpp_command(self.vpp, conf, self.workers, self.dir)
        self.api_socket.unlink(missing_ok=True)
        out = open(self.dir / "stdout.log", "ab")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"VPP exited at start: {self.tail()}")
            # ready once the startup-config has run: VPP answers its API socket before that
            if self.api_socket.exists() and "pg0" in self.cli("show interface"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"VPP did not open {self.api_socket} within {timeout:g} s")

    def cli(self, command: str) -> str:
        """A CLI command through vppctl on the instance's CLI socket."""
        vppctl = shutil.which("vppctl") or "vppctl"
        done = subprocess.run(
            [vppctl, "-s", str(self.cli_socket), *command.split()],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return done.stdout

    def kill(self) -> None:
        """kill -9 (a crash): the API socket closes under the client."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def tail(self, n: int = 20) -> str:
        text = ""
        for name in ("stdout.log", "vpp.log"):
            path = self.dir / name
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-n:]) + "\n"
        return text
