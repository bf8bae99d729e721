"""Which peers may talk to the node: a list of CIDRs, or every peer."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_CACHE_LIMIT = 4096


class AllowList:
    """``networks=None`` admits every peer (the config's explicit ``any``)."""

    def __init__(self, networks: Iterable[IPNetwork] | None) -> None:
        self.networks: tuple[IPNetwork, ...] | None = None if networks is None else tuple(networks)
        # ip -> whether it is allowed, for the addresses seen so far (the node reads it
        # before calling `allows`, once per datagram)
        self.verdicts: dict[str, bool] = {}

    def allows(self, ip: str) -> bool:
        if self.networks is None:
            return True
        verdict = self.verdicts.get(ip)
        if verdict is None:
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                return False
            verdict = any(addr in net for net in self.networks)
            if len(self.verdicts) >= _CACHE_LIMIT:
                self.verdicts.clear()
            self.verdicts[ip] = verdict
        return verdict

    def describe(self) -> str:
        if self.networks is None:
            return "any"
        return ", ".join(str(n) for n in self.networks) or "(none)"
