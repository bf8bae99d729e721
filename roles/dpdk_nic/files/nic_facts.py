#!/usr/bin/env python3
"""Print, as JSON, what role dpdk_nic checks about PCI devices before binding them.

Usage: nic_facts.py SYSFS_ROOT PCI... ; per device: its kernel interfaces with every device
stacked above them (VLAN, bond, bridge: upper_* links and master), its driver, NUMA node,
IOMMU group and the group's other devices with their drivers. Reads sysfs only.
"""

from __future__ import annotations

import json
import os
import sys


def link_name(path: str) -> str | None:
    return os.path.basename(os.readlink(path)) if os.path.islink(path) else None


def stacked(root: str, iface: str, seen: set[str]) -> None:
    """Add iface and every interface above it to seen."""
    if iface in seen:
        return
    seen.add(iface)
    base = os.path.join(root, "class", "net", iface)
    if not os.path.isdir(base):
        return
    for entry in sorted(os.listdir(base)):
        if entry.startswith("upper_"):
            stacked(root, entry[len("upper_") :], seen)
        elif entry == "master":
            master = link_name(os.path.join(base, entry))
            if master:
                stacked(root, master, seen)


def device(root: str, pci: str) -> dict[str, object]:
    base = os.path.join(root, "bus", "pci", "devices", pci)
    net = os.path.join(base, "net")
    netdevs = sorted(os.listdir(net)) if os.path.isdir(net) else []
    ifaces: set[str] = set()
    for name in netdevs:
        stacked(root, name, ifaces)
    numa = -1
    try:
        with open(os.path.join(base, "numa_node")) as f:
            numa = int(f.read().strip())
    except (OSError, ValueError):
        pass
    group = link_name(os.path.join(base, "iommu_group"))
    peers = {}
    if group is not None:
        gdir = os.path.join(root, "kernel", "iommu_groups", group, "devices")
        for peer in sorted(os.listdir(gdir)) if os.path.isdir(gdir) else []:
            if peer != pci:
                peers[peer] = link_name(os.path.join(root, "bus", "pci", "devices", peer, "driver"))
    return {
        "pci": pci,
        "exists": os.path.isdir(base),
        "driver": link_name(os.path.join(base, "driver")),
        "netdevs": netdevs,
        "interfaces": sorted(ifaces),
        "numa_node": numa,
        "iommu_group": group,
        "iommu_peers": peers,
    }


def main() -> int:
    root, pcis = sys.argv[1], sys.argv[2:]
    json.dump({pci: device(root, pci) for pci in pcis}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
