"""What the network-namespace tests share: why they cannot run here, and running a command
(in a namespace)."""

from __future__ import annotations

import os
import shutil
import subprocess


def netns_missing() -> str | None:
    """Why namespaces, veth pairs and TUN devices cannot be made here, or None."""
    if os.geteuid() != 0:
        return "not root: network namespaces, veth and TUN need root"
    if not shutil.which("ip"):
        return "iproute2 `ip` command not found"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun not available"
    return None


def run(*args: str, ns: str | None = None) -> None:
    """Run a command, in the network namespace ``ns`` when given; fails on a non-zero exit."""
    cmd = ["ip", "netns", "exec", ns, *args] if ns else list(args)
    subprocess.run(cmd, check=True, capture_output=True, text=True)
