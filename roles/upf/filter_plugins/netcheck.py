"""Address plan filters for the cross-role consistency check (playbooks/preflight.yml)."""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError


def upf_overlapping_networks(named: dict[str, str]) -> list[str]:
    """Pairs of {name: address/prefix} whose networks overlap, as "a (net) and b (net)"."""
    nets = []
    for name, cidr in named.items():
        try:
            nets.append((name, ipaddress.ip_interface(str(cidr)).network))
        except ValueError as exc:
            raise AnsibleFilterError(f"{name}: {cidr!r} is not an address with a prefix length") from exc
    found = []
    for i, (a, net_a) in enumerate(nets):
        for b, net_b in nets[i + 1 :]:
            if net_a.version == net_b.version and net_a.overlaps(net_b):
                found.append(f"{a} ({net_a}) and {b} ({net_b})")
    return found


def upf_endpoint_host(endpoint: str) -> str:
    """The address of "host:port", "[v6]:port" or a bare address."""
    text = str(endpoint).strip()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    if text.count(":") == 1:
        return text.rsplit(":", 1)[0]
    return text


class FilterModule:
    def filters(self) -> dict:
        return {
            "upf_overlapping_networks": upf_overlapping_networks,
            "upf_endpoint_host": upf_endpoint_host,
        }
