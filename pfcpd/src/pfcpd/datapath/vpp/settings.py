"""The ``datapath`` keys of the ``vpp`` datapath.

VPP does the packet work; pfcpd programs it through VPP's binary API socket. The N3 address
stays ``interfaces.n3.address`` (the session engine's F-TEIDs carry it; VPP must own that
address on one of its interfaces: the operator configures VPP's interfaces). What pfcpd
needs to know of VPP is which of its interfaces play which role and which FIB tables each
network instance uses:

    datapath:
      kind: vpp
      vpp:
        api_socket: /run/vpp/api.sock   # VPP's socksvr socket-name (the default)
        connect_timeout: 60             # s pfcpd waits at start-up for VPP to answer
        call_timeout: 2                 # s one API call may take before it fails
        usage_refresh: 1.0              # s between background reads of the URR counters
        n3_interfaces: [GigabitEthernet0/8/0]   # role N3 (GTP-U from the RAN); optional
        n9_interfaces: []               # role N9 (GTP-U from/to other UPFs); optional
        network_instances:              # one entry per name of `network_instances`
          internet:
            n6_interfaces: [GigabitEthernet0/9/0]   # DL enters the UPF here (role N6)
            ip4_table_id: 0             # FIB tables of the instance (0: VPP's default)
            ip6_table_id: 0

Interfaces are VPP's names (``show interface``). A network instance without an entry uses
tables 0 and has no N6 interface (it can still forward uplink and N9 traffic; pfcpd logs
that it receives no downlink). The keys are validated with the rest of the file by
`pfcpd.config` (`VppDatapathConfig`); this module turns the validated section into the
settings the datapath uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pfcpd.config import VppDatapathConfig

DEFAULT_API_SOCKET = "/run/vpp/api.sock"


@dataclass(frozen=True)
class VppNetworkInstance:
    """A network instance as VPP serves it; its index is its position in the config."""

    name: str
    n6_interfaces: tuple[str, ...] = ()
    ip4_table_id: int = 0
    ip6_table_id: int = 0


@dataclass(frozen=True)
class VppDatapathSettings:
    api_socket: str = DEFAULT_API_SOCKET
    connect_timeout: float = 60.0
    call_timeout: float = 2.0
    usage_refresh: float = 1.0
    n3_interfaces: tuple[str, ...] = ()
    n9_interfaces: tuple[str, ...] = ()
    instances: tuple[VppNetworkInstance, ...] = ()  # index = position

    @property
    def network_instances(self) -> dict[str, int]:
        """Network instance name -> the index the session compiler puts in PDRs and FARs
        (and the plugin's network instance number)."""
        return {ni.name: i for i, ni in enumerate(self.instances)}

    @classmethod
    def from_config(
        cls, datapath: VppDatapathConfig, network_instances: Sequence[str]
    ) -> VppDatapathSettings:
        """``datapath``: the validated ``datapath`` section; ``network_instances``: the names
        of ``network_instances``, in the configuration's order."""
        vpp = datapath.vpp
        return cls(
            api_socket=str(vpp.api_socket),
            connect_timeout=vpp.connect_timeout,
            call_timeout=vpp.call_timeout,
            usage_refresh=vpp.usage_refresh,
            n3_interfaces=tuple(vpp.n3_interfaces),
            n9_interfaces=tuple(vpp.n9_interfaces),
            instances=tuple(
                VppNetworkInstance(name, tuple(ni.n6_interfaces), ni.ip4_table_id, ni.ip6_table_id)
                for name in network_instances
                for ni in [vpp.instance(name)]
            ),
        )
