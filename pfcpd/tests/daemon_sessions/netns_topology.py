"""Three network namespaces around a real `pfcpd run` (local datapath) in the middle one:

    gNB ns [10.210.0.1, fd00:210::1] --veth-- [10.210.0.2, fd00:210::2 = N3] UPF ns
    UPF ns [pfcpd's TUN; 10.210.2.1, fd00:212::1] --veth-- [10.210.2.2, fd00:212::2] DN ns

pfcpd listens for PFCP on 127.0.0.1 inside the UPF namespace and routes the UE pools to its
TUN itself; the DN routes them back to the UPF namespace. The test process opens sockets
inside a namespace from a short-lived thread that joins it (setns acts on one thread), so
the SMF simulator, the gNB and the DN all run in the test process. Only addresses inside the
namespaces made here are used; they are deleted whatever happens. ``in_netns`` is the gNB
simulator's (re-exported here for the tests).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from netns_tools import run as sh

from pfcpd.gnbsim.netns import in_netns as in_netns

GNB, GNB6 = "10.210.0.1", "fd00:210::1"
N3, N3_6 = "10.210.0.2", "fd00:210::2"
DN, DN6 = "10.210.2.2", "fd00:212::2"
UE_POOL, UE_POOL6 = "10.47.0.0/16", "fd00:47::/56"


@dataclass
class Topology:
    gnb: str
    upf: str
    dn: str
    tun: str

    @classmethod
    def create(cls, tag: str) -> Topology:
        t = cls(f"c2-gnb-{tag}", f"c2-upf-{tag}", f"c2-dn-{tag}", f"c2n6{tag}")
        try:
            t._build(tag)
        except BaseException:
            t.delete()
            raise
        return t

    def _build(self, tag: str) -> None:
        for ns in (self.gnb, self.upf, self.dn):
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        for a, a_ns, b, b_ns in (
            (f"g{tag}", self.gnb, f"n3{tag}", self.upf),
            (f"n6{tag}", self.upf, f"d{tag}", self.dn),
        ):
            sh(
                "ip",
                "link",
                "add",
                a,
                "netns",
                a_ns,
                "type",
                "veth",
                "peer",
                "name",
                b,
                "netns",
                b_ns,
            )
        for ns, dev, addrs in (
            (self.gnb, f"g{tag}", (f"{GNB}/24", f"{GNB6}/64")),
            (self.upf, f"n3{tag}", (f"{N3}/24", f"{N3_6}/64")),
            (self.upf, f"n6{tag}", ("10.210.2.1/24", "fd00:212::1/64")),
            (self.dn, f"d{tag}", (f"{DN}/24", f"{DN6}/64")),
        ):
            for addr in addrs:
                extra = ("nodad",) if ":" in addr else ()
                sh("ip", "addr", "add", addr, "dev", dev, *extra, ns=ns)
            sh("ip", "link", "set", dev, "up", ns=ns)
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=self.upf)
        sh("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", ns=self.upf)
        sh("ip", "route", "add", UE_POOL, "via", "10.210.2.1", ns=self.dn)
        sh("ip", "-6", "route", "add", UE_POOL6, "via", "fd00:212::1", ns=self.dn)

    def delete(self) -> None:
        for ns in (self.gnb, self.upf, self.dn):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
