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
        self._verdicts: dict[str, bool] = {}

    def allows(self, ip: str) -> bool:
        if self.networks is None:
            return True
        verdict = self._verdicts.get(ip)
        if verdict is None:
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                return False
            verdict = any(addr in net for net in self.networks)
            if len(self._verdicts) >= _CACHE_LIMIT:
                self._verdicts.clear()
            self._verdicts[ip] = verdict
        return verdict

    def describe(self) -> str:
        if self.networks is None:
            return "any"
        return ", ".join(str(n) for n in self.networks) or "(none)"
