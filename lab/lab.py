"""`make lab`, `make lab-down`, `make test-lab` (docs/lab.md).

up:    boot the lab edge host (a Debian 12 systemd-nspawn container from the rootfs the
       molecule scenarios share, molecule/shared/create.yml), wire the upflab-smf, upflab-gnb
       and upflab-dn namespaces to its N4, N3 and N6 sides (the address plan is `lab_plan` in
       inventory/lab/group_vars/all.yml), converge `ansible-playbook -i inventory/lab site.yml`
       against it, then run the smoke (lab/smoke.py). Everything already there is kept, so a
       second run converges again (changed=0) and smoke-tests again. With --datapath vpp
       --artifacts DIR the lab host runs VPP from DIR's .debs (their Debian dependencies
       from a local apt repository, molecule/shared/offline_apt.yml), the UPF plugin and
       pfcpd with the vpp datapath (lab/vpp-vars.yml).
down:  stop the container, delete the namespaces and the container's copy of the rootfs.
check: print why the lab cannot run here (not root, a tool missing) and exit 1, else exit 0.

Run as root from the repository's virtualenv (the Makefile does): python lab/lab.py up.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = "upf-lab-edge"
RUN_DIR = Path("/var/tmp/upf-test") / INSTANCE
INSTANCE_CONFIG = Path("/var/tmp/upf-test") / f"{INSTANCE}.instance.yml"
LOG_DIR = ROOT / "build" / "lab"
EDGE, SMF, GNB, DN = "upflab-edge", "upflab-smf", "upflab-gnb", "upflab-dn"
TOOLS = ("systemd-nspawn", "debootstrap", "nsenter", "ip", "tar")
VPP_TOOLS = ("dpkg-scanpackages", "apt-get")  # molecule/shared/apt_repo.sh
VPP_VARS = ROOT / "lab" / "vpp-vars.yml"


@dataclass(frozen=True)
class Link:
    """A veth pair: ``edge_dev`` in the lab host, ``peer_dev`` in namespace ``peer_ns``."""

    peer_ns: str
    peer_dev: str
    peer_addr: str
    edge_dev: str
    edge_addr: str
    prefix: int
    peer_addr6: str | None = None  # IPv6 addresses of the link, when it has them
    edge_addr6: str | None = None
    prefix6: int = 64

    def addresses(self) -> list[tuple[str, str, str]]:
        """(namespace, device, address/prefix) of both ends, IPv4 then IPv6."""
        out = [
            (EDGE, self.edge_dev, f"{self.edge_addr}/{self.prefix}"),
            (self.peer_ns, self.peer_dev, f"{self.peer_addr}/{self.prefix}"),
        ]
        if self.edge_addr6 and self.peer_addr6:
            out += [
                (EDGE, self.edge_dev, f"{self.edge_addr6}/{self.prefix6}"),
                (self.peer_ns, self.peer_dev, f"{self.peer_addr6}/{self.prefix6}"),
            ]
        return out


@dataclass(frozen=True)
class Plan:
    n4: Link
    n3: Link
    n6: Link
    ue_pool: str
    ue_pool6: str

    @classmethod
    def load(cls) -> Plan:
        """The `lab_plan` of inventory/lab (one home for the lab's addresses)."""
        data = yaml.safe_load((ROOT / "inventory/lab/group_vars/all.yml").read_text())
        p = data["lab_plan"]
        return cls(
            n4=Link(
                SMF, "smf0", p["n4"]["smf"], "n4", p["n4"]["upf"], p["n4"]["prefix"]
            ),
            n3=Link(
                GNB, "gnb0", p["n3"]["gnb"], "n3", p["n3"]["upf"], p["n3"]["prefix"]
            ),
            n6=Link(
                DN,
                "dn0",
                p["n6"]["dn"],
                "n6",
                p["n6"]["upf"],
                p["n6"]["prefix"],
                p["n6"]["dn6"],
                p["n6"]["upf6"],
                p["n6"]["prefix6"],
            ),
            ue_pool=p["ue_pool"],
            ue_pool6=p["ue_pool6"],
        )


def missing(datapath: str = "local") -> str | None:
    """Why the lab cannot run on this machine, or None."""
    if os.geteuid() != 0:
        return "not root (the lab boots a container and creates network namespaces)"
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        return f"missing {', '.join(absent)} (Debian: systemd-container debootstrap iproute2)"
    if datapath == "vpp":
        absent = [tool for tool in VPP_TOOLS if shutil.which(tool) is None]
        if absent:
            return f"missing {', '.join(absent)} (Debian: dpkg-dev apt)"
    elif not Path("/dev/net/tun").exists():
        return "/dev/net/tun is absent (the local datapath's N6 is a TUN device)"
    if not Path("/proc/sys/net/ipv6").exists():
        return "the kernel runs without IPv6 (ipv6.disable=1); the smoke has IPv6 UEs"
    return None


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: {(done.stderr or done.stdout).strip()}")
    return done


class LabError(Exception):
    pass


# -- the container -------------------------------------------------------------------------


def _pid(name: str) -> int | None:
    try:
        return int((RUN_DIR / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def running_init() -> int | None:
    """The init process of the running lab container, None when it is not up."""
    nspawn, init = _pid("nspawn"), _pid("init")
    if nspawn is None or init is None:
        return None
    try:
        if b"systemd-nspawn" not in Path(f"/proc/{nspawn}/cmdline").read_bytes():
            return None
        Path(f"/proc/{init}/ns/net").stat()
    except OSError:
        return None
    return init


def vpp_debs(artifacts: str | None) -> tuple[Path, list[str]]:
    """The directory of the .debs `make lab UPF_DATAPATH=vpp` installs (UPF_ARTIFACTS: the
    vpp_build role's artifacts directory, whose vpp-<version>/ holds them, or that directory
    itself) and the package names to install from it (lab/vpp-vars.yml's vpp_packages and
    the plugin)."""
    if not artifacts:
        raise LabError(
            "UPF_DATAPATH=vpp needs UPF_ARTIFACTS=DIR, the .debs of playbooks/build.yml "
            "(DIR/vpp-<version>/*.deb) or a directory holding them"
        )
    base = Path(artifacts).resolve()
    dirs = [base] if list(base.glob("vpp_*.deb")) else sorted(base.glob("vpp-*/"))
    if len(dirs) != 1:
        raise LabError(
            f"{base} holds no vpp_*.deb and {len(dirs)} vpp-<version> directories "
            "(expected one): give UPF_ARTIFACTS the directory of the VPP .debs"
        )
    packages = [*yaml.safe_load(VPP_VARS.read_text())["vpp_packages"], "upf-plugin"]
    absent = [p for p in packages if len(list(dirs[0].glob(f"{p}_*.deb"))) != 1]
    if absent:
        raise LabError(
            f"{dirs[0]} lacks {', '.join(f'{p}_*.deb' for p in absent)} (one each); "
            "playbooks/build.yml builds them all, molecule/vpp_real/debs.sh DIR adds an "
            "upf-plugin .deb built from this tree"
        )
    return dirs[0], packages


def recorded_datapath() -> str | None:
    """The datapath the lab that is up was deployed with."""
    try:
        return (RUN_DIR / "datapath").read_text().strip() or None
    except OSError:
        return None


def _molecule_vars() -> str:
    # molecule/shared/create.yml and destroy.yml, driven as molecule drives them.
    return json.dumps(
        {
            "molecule_yml": {"platforms": [{"name": INSTANCE}]},
            "molecule_instance_config": str(INSTANCE_CONFIG),
        }
    )


def boot() -> tuple[int, bool]:
    """(init pid, booted now): the running container, or a freshly booted one."""
    init = running_init()
    if init is not None:
        return init, False
    playbook(ROOT / "molecule/shared/create.yml", "boot", "-e", _molecule_vars())
    init = running_init()
    if init is None:
        raise LabError(f"the container did not come up; see {RUN_DIR}/console.log")
    return init, True


def playbook(path: Path, tag: str, *args: str, inventory: str | None = None) -> str:
    """Run ansible-playbook, its output shown and kept in build/lab/<tag>.log; the output."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(path), *args]
    if inventory:
        cmd[1:1] = ["-i", inventory]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.setdefault("ANSIBLE_LOCALHOST_WARNING", "False")
    env.setdefault("ANSIBLE_INVENTORY_UNPARSED_WARNING", "False")
    log_path = LOG_DIR / f"{tag}.log"
    lines: list[str] = []
    with (
        subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as proc,
        log_path.open("w") as log,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            lines.append(line)
            if os.environ.get("LAB_VERBOSE") or line.startswith(
                ("TASK", "PLAY", "fatal", "fail")
            ):
                print(f"  {line.rstrip()}", flush=True)
    if proc.returncode != 0:
        tail = "".join(lines[-30:])
        raise LabError(f"ansible-playbook {path.name} failed (log {log_path}):\n{tail}")
    return "".join(lines)


# -- the network ---------------------------------------------------------------------------


def _same_netns(name: str, pid: int) -> bool:
    try:
        a, b = os.stat(f"/run/netns/{name}"), os.stat(f"/proc/{pid}/ns/net")
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def wire(plan: Plan, init: int, datapath: str = "local") -> list[str]:
    """Name the container's network namespace upflab-edge, create the peer namespaces and
    the veth pairs, address them (IPv4; IPv6 on N6), turn on IPv4 and IPv6 forwarding in the
    lab host (the local datapath hands uplink packets to its kernel) and route the UE pools
    back to it from the DN. With the vpp datapath the lab host's N3 and N6 ends carry no
    kernel address and no IPv6: VPP takes them with af_packet and holds the addresses.
    Existing pieces are kept; returns what was made."""
    made: list[str] = []
    if not _same_netns(EDGE, init):
        run("ip", "netns", "del", EDGE, check=False)
        run("ip", "netns", "attach", EDGE, str(init))
        made.append(f"netns {EDGE} (the lab host's)")
    existing = set(run("ip", "netns", "list").stdout.split())
    for link in (plan.n4, plan.n3, plan.n6):
        if link.peer_ns not in existing:
            run("ip", "netns", "add", link.peer_ns)
            run("ip", "-n", link.peer_ns, "link", "set", "lo", "up")
            made.append(f"netns {link.peer_ns}")
        if (
            run("ip", "-n", EDGE, "link", "show", link.edge_dev, check=False).returncode
            != 0
        ):
            run("ip", "-n", link.peer_ns, "link", "del", link.peer_dev, check=False)
            run(
                "ip", "link", "add", link.edge_dev, "netns", EDGE, "type", "veth",
                "peer", "name", link.peer_dev, "netns", link.peer_ns,
            )  # fmt: skip
            made.append(
                f"veth {EDGE}:{link.edge_dev} <-> {link.peer_ns}:{link.peer_dev}"
            )
        vpp_owned = datapath == "vpp" and link is not plan.n4
        if vpp_owned:
            run(
                "ip", "netns", "exec", EDGE, "sysctl", "-qw",
                f"net.ipv6.conf.{link.edge_dev}.disable_ipv6=1",
            )  # fmt: skip
            run("ip", "-n", EDGE, "addr", "flush", "dev", link.edge_dev)
        for ns, dev, addr in link.addresses():
            if vpp_owned and ns == EDGE:
                continue
            # IPv6 without duplicate address detection: usable at once, and these links
            # have no other node that could hold the address.
            nodad = ("nodad",) if ":" in addr else ()
            run("ip", "-n", ns, "addr", "replace", addr, "dev", dev, *nodad)
            run("ip", "-n", ns, "link", "set", dev, "up")
        run("ip", "-n", EDGE, "link", "set", link.edge_dev, "up")
    run(
        "ip", "netns", "exec", EDGE, "sysctl", "-qw", "net.ipv4.ip_forward=1",
        "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.default.forwarding=1",
    )  # fmt: skip
    run("ip", "-n", DN, "route", "replace", plan.ue_pool, "via", plan.n6.edge_addr)
    assert plan.n6.edge_addr6 is not None
    run(
        "ip",
        "-n",
        DN,
        "-6",
        "route",
        "replace",
        plan.ue_pool6,
        "via",
        plan.n6.edge_addr6,
    )
    return made


def unwire() -> None:
    for ns in (SMF, GNB, DN, EDGE):
        run("ip", "netns", "del", ns, check=False)


# -- commands ------------------------------------------------------------------------------


def recap_changed(output: str) -> int:
    found = re.findall(r"^upf-lab\s*:.*?changed=(\d+)", output, re.MULTILINE)
    if not found:
        raise LabError("no PLAY RECAP line for upf-lab in ansible-playbook's output")
    return int(found[-1])


def cmd_up(args: argparse.Namespace) -> int:
    datapath = args.datapath
    reason = missing(datapath)
    if reason:
        print(f"make lab: cannot run here: {reason}", file=sys.stderr)
        return 1
    plan = Plan.load()
    timings: list[tuple[str, float]] = []
    extra: list[str] = []

    def step(name: str) -> float:
        print(f"==> {name}", flush=True)
        return time.monotonic()

    try:
        up = recorded_datapath() if running_init() is not None else None
        if up is not None and up != datapath:
            raise LabError(
                f"the lab that is up runs the {up} datapath; make lab-down first to "
                f"deploy the {datapath} one"
            )
        if datapath == "vpp":
            deb_dir, packages = vpp_debs(args.artifacts)
            deb_vars = {"vpp_deb_dir": str(deb_dir), "upf_plugin_deb_dir": str(deb_dir)}
            extra = ["-e", f"@{VPP_VARS}", "-e", json.dumps(deb_vars)]
            extra += ["--skip-tags", "host,verify"]
        t = step("boot the lab edge host (systemd-nspawn, Debian 12)")
        init, booted = boot()
        (RUN_DIR / "datapath").write_text(f"{datapath}\n")
        timings.append(
            ("boot" if booted else "boot (already up)", time.monotonic() - t)
        )
        t = step("wire the SMF, gNB and DN namespaces")
        for what in wire(plan, init, datapath):
            print(f"  made {what}")
        timings.append(("wire", time.monotonic() - t))
        if datapath == "vpp":
            t = step("a local apt repository with the .debs' dependencies")
            apt_vars = {
                "upf_test_apt_deb_dir": str(deb_dir),
                "upf_test_apt_packages": packages,
            }
            playbook(
                ROOT / "molecule/shared/offline_apt.yml",
                "apt",
                "-e",
                json.dumps(apt_vars),
                inventory="inventory/lab",
            )
            timings.append(("apt repository", time.monotonic() - t))
        t = step("ansible-playbook -i inventory/lab site.yml")
        output = playbook(
            ROOT / "site.yml", "converge", *extra, inventory="inventory/lab"
        )
        changed = recap_changed(output)
        timings.append((f"converge (changed={changed})", time.monotonic() - t))
        if args.expect_unchanged and changed:
            raise LabError(
                f"converge: changed={changed} where a second run must change nothing"
            )
    except LabError as exc:
        print(f"make lab: FAILED: {exc}", file=sys.stderr)
        return 1
    if args.no_smoke:
        return 0
    from smoke import smoke  # lab/smoke.py beside this file

    t = step("smoke: SMF simulator, gNB simulator, DN responder")
    return smoke(
        plan,
        deployed=timings,
        converge_changed=changed,
        deployment=deployment(datapath, init),
    )


def deployment(datapath: str, init: int) -> str:
    """What runs on the lab host, for the summary."""
    if datapath != "vpp":
        return "pfcpd (local datapath)"
    version = run(
        "nsenter", "-t", str(init), "-a", "vppctl", "-s", "/run/vpp/cli.sock",
        "show", "version", check=False,
    ).stdout.strip()  # fmt: skip
    return (
        f"{version or 'VPP (version unknown)'} with the UPF plugin (af_packet on N3 and "
        "N6) and pfcpd (vpp datapath)"
    )


def cmd_smoke(_args: argparse.Namespace) -> int:
    """The smoke alone, against the lab that is up."""
    datapath = recorded_datapath() or "local"
    reason = missing(datapath)
    init = running_init()
    if reason or init is None:
        print(f"lab smoke: {reason or 'the lab is not up (make lab)'}", file=sys.stderr)
        return 1
    from smoke import smoke

    return smoke(
        Plan.load(),
        deployed=[],
        converge_changed=-1,
        deployment=deployment(datapath, init),
    )


def cmd_down(_args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        print("make lab-down: not root", file=sys.stderr)
        return 1
    unwire()
    if RUN_DIR.exists() or INSTANCE_CONFIG.exists():
        try:
            playbook(
                ROOT / "molecule/shared/destroy.yml", "down", "-e", _molecule_vars()
            )
        except LabError as exc:
            print(f"make lab-down: FAILED: {exc}", file=sys.stderr)
            return 1
    INSTANCE_CONFIG.unlink(missing_ok=True)
    print(
        "lab removed (container, its rootfs copy, namespaces); the rootfs cache stays"
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    reason = missing(args.datapath)
    if reason:
        print(reason)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lab/lab.py", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="boot, wire, converge, smoke (make lab)")
    up.add_argument("--no-smoke", action="store_true", help="stop after the converge")
    up.add_argument(
        "--datapath",
        choices=["local", "vpp"],
        default="local",
        help="the UPF's datapath (make lab UPF_DATAPATH=...): pfcpd's embedded one, or "
        "VPP with the UPF plugin from --artifacts",
    )
    up.add_argument(
        "--artifacts",
        metavar="DIR",
        help="with --datapath vpp: the .debs (make lab UPF_ARTIFACTS=DIR): the vpp_build "
        "role's artifacts directory (DIR/vpp-<version>/*.deb) or a directory of .debs",
    )
    up.add_argument(
        "--expect-unchanged",
        action="store_true",
        help="fail unless the converge changes nothing (a lab that is up already)",
    )
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="remove the lab (make lab-down)").set_defaults(
        func=cmd_down
    )
    sub.add_parser(
        "smoke", help="run the smoke again on the lab that is up"
    ).set_defaults(func=cmd_smoke)
    check = sub.add_parser("check", help="exit 1 saying why the lab cannot run here")
    check.add_argument("--datapath", choices=["local", "vpp"], default="local")
    check.set_defaults(func=cmd_check)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
