"""A private VPP with the upf plugin, for the tests and the benchmarks: what the plugin
tests' harness (vpp_plugin/vpp_harness.Vpp: started at construction, a vpp_papi client, pg
helpers) and the vpp datapath's tests (datapath_vpp/vpp_instance.VppInstance: started,
killed and started again by the test, pfcpd as the API client) have in common.

A VppProcess has a directory of its own holding its startup.conf, API socket, CLI socket,
stats socket and logs, a shared memory prefix of its own, no DPDK (only upf_plugin.so and
the plugins asked for are loaded), 4 KiB pages, and by default a main loop that sleeps
100 us per turn instead of spinning on a shared machine. Nothing here touches a system VPP:
the process is started by the caller and stopped or killed by pid (its own session).

What it needs, found as follows (Missing says what is not there; the tests skip with it):
- VPP: ``vpp`` on PATH (VPP's .debs);
- the upf plugin: ``$UPF_PLUGIN_SO`` (the .so), else ``$UPF_VPP_PLUGIN_DIR/upf_plugin.so``,
  else the first of build/core, build/core-release and build/vpp of this repository
  (`make test-core` builds the first two), else the newest ``build*/**/upf_plugin.so``,
  else the upf-plugin .deb's, installed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from vpp_cpus import vpp_command

REPO = Path(__file__).resolve().parents[2]
PLUGIN = "upf_plugin.so"
SYSTEM_PLUGIN_DIRS = [Path(d) for d in sorted(glob.glob("/usr/lib/*/vpp_plugins"))]
SYSTEM_API_DIR = Path("/usr/share/vpp/api")


class Missing(Exception):
    """What is missing to run VPP with the plugin (the skip reason)."""


def find_vpp() -> str:
    vpp = shutil.which("vpp")
    if vpp is None:
        raise Missing("VPP not installed (no vpp on PATH)")
    return vpp


def find_plugin() -> Path:
    """The upf_plugin.so to load (the module docstring says in which order it is looked for)."""
    env = os.environ.get("UPF_PLUGIN_SO")
    if env:
        if not Path(env).is_file():
            raise Missing(f"upf plugin not built: UPF_PLUGIN_SO={env} does not exist")
        return Path(env)
    env = os.environ.get("UPF_VPP_PLUGIN_DIR")
    if env:
        if not (Path(env) / PLUGIN).is_file():
            raise Missing(f"upf plugin not built: no {PLUGIN} in UPF_VPP_PLUGIN_DIR={env}")
        return Path(env) / PLUGIN
    for d in ("core", "core-release", "vpp"):
        if (REPO / "build" / d / "lib" / "vpp_plugins" / PLUGIN).is_file():
            return REPO / "build" / d / "lib" / "vpp_plugins" / PLUGIN
    built = sorted(REPO.glob(f"build*/**/{PLUGIN}"), key=lambda p: p.stat().st_mtime)
    if built:
        return built[-1]
    for d in SYSTEM_PLUGIN_DIRS:
        if (d / PLUGIN).is_file():
            return d / PLUGIN
    raise Missing(
        f"upf plugin not built (no build*/**/{PLUGIN}: `make test-core` with vpp-dev; "
        "or set UPF_PLUGIN_SO)"
    )


def find_upf_api_json(plugin: Path) -> Path | None:
    """upf.api.json beside the plugin's build (<build>/vpp/), else the installed one."""
    build = plugin.parent.parent.parent  # <build>/lib/vpp_plugins/upf_plugin.so
    for p in (build / "vpp" / "upf.api.json", SYSTEM_API_DIR / "plugins" / "upf.api.json"):
        if p.is_file():
            return p
    return None


class VppProcess:
    """One VPP process: its startup.conf, start, stop, kill -9, CLI (vppctl), log tail.

    setup: CLI commands VPP runs at start (unix startup-config); extra_plugins: VPP's own
    plugins to load beside upf_plugin.so; poll_sleep_usec: the main thread's sleep per
    loop (0: a benchmark's main thread runs its packet-generator streams flat out)."""

    def __init__(
        self,
        workdir: Path,
        workers: int = 0,
        setup: str = "",
        extra_plugins: tuple[str, ...] = (),
        heap: str = "512M",
        buffers: int = 16384,
        poll_sleep_usec: int = 100,
    ) -> None:
        self.vpp = find_vpp()
        self.plugin = find_plugin()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.api_socket = self.dir / "api.sock"
        self.cli_socket = self.dir / "cli.sock"
        self.log = self.dir / "vpp.log"
        self.workers = workers
        self.setup = setup
        self.extra_plugins = extra_plugins
        self.heap = heap
        self.buffers = buffers
        self.poll_sleep_usec = poll_sleep_usec
        self.prefix = f"upftest{os.getpid()}x{id(self) & 0xFFFF:x}"
        self.proc: subprocess.Popen[bytes] | None = None
        # the plugin under its own name in a directory of its own, searched first
        self.plugin_dir = self.dir / "plugins"
        self.plugin_dir.mkdir(exist_ok=True)
        link = self.plugin_dir / PLUGIN
        if not link.exists():
            link.symlink_to(self.plugin.resolve())

    def setup_cli(self) -> str:
        """The CLI commands VPP runs at start."""
        return self.setup

    def startup_conf(self) -> str:
        startup = ""
        setup = self.setup_cli()
        if setup:
            (self.dir / "setup.cli").write_text(setup)
            startup = f" startup-config {self.dir / 'setup.cli'}"
        _, cpu = vpp_command(self.vpp, self.dir / "startup.conf", self.workers, self.dir)
        path = ":".join(str(d) for d in [self.plugin_dir, *SYSTEM_PLUGIN_DIRS])
        plugins = "".join(f"\n  plugin {p} {{ enable }}" for p in (PLUGIN, *self.extra_plugins))
        return f"""
unix {{
  nodaemon cli-listen {self.cli_socket} log {self.log}{startup}
  poll-sleep-usec {self.poll_sleep_usec}
}}
api-segment {{ prefix {self.prefix} }}
socksvr {{ socket-name {self.api_socket} }}
statseg {{ socket-name {self.dir / "stats.sock"} size 32M page-size 4k }}
memory {{ main-heap-size {self.heap} main-heap-page-size 4k }}
buffers {{ buffers-per-numa {self.buffers} page-size 4k }}
cpu {{ {cpu} }}
plugins {{
  path {path}
  plugin default {{ disable }}{plugins}
}}
"""

    def ready(self) -> bool:
        """Started far enough for the caller (the API socket is there)."""
        return self.api_socket.exists()

    def start(self, timeout: float = 30.0) -> None:
        conf = self.dir / "startup.conf"
        conf.write_text(self.startup_conf())
        argv, _ = vpp_command(self.vpp, conf, self.workers, self.dir)
        self.api_socket.unlink(missing_ok=True)
        with open(self.dir / "stdout.log", "ab") as out:  # the child keeps its own copy
            self.proc = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"VPP exited at start: {self.tail()}")
            if self.ready():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"VPP did not start within {timeout:g} s: {self.tail()}")

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
        """kill -9 (a crash): the API socket closes under its clients."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def tail(self, n: int = 20) -> str:
        text = ""
        for name in ("stdout.log", "vpp.log"):
            path = self.dir / name
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-n:]) + "\n"
        return text
