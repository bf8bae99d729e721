"""Which listen endpoint a request leaves from when none is known yet (`PfcpNode._endpoint_to`)
on a multi-homed UPF: the one bound to the address the kernel sends to the destination from
(`PfcpNode.source_address`, the daemon's kernel probe; here a fake that answers from a
table), not the first of the family. For pfcpd's own Association Setup Request
(`associate_to`, `SetupTarget.local`) and so the association it sets up
(`Association.local`: its heartbeats), a restored association whose record names no
endpoint, and a report to a CP F-SEID address of the family other than the association's
(`_request_address`). A source no endpoint is bound to: a wildcard endpoint of the family,
else the first (as without a source); no source known (the first, a wildcard listed after
it or not), a loopback, link-local or nowhere destination (never asked), an F-SEID address
the report refuses (never asked), or no choice to make (one endpoint off loopback, one
address on several ports, wildcards alone): as before. Sans-IO."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from node.request_node import node_listening_on, node_with, sent_to

from pfcpd.config import Endpoint
from pfcpd.node import PfcpNode
from pfcpd.node.association import Association
from pfcpd.pfcp import Message, MessageType, decode, encode
from pfcpd.pfcp.cause import Cause
from pfcpd.pfcp.ies_address import NodeID
from pfcpd.pfcp.ies_scalar import Cause as CauseIE
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp

M = MessageType
MGMT = "192.0.2.5:8805"  # a management interface's address, listed first
N4 = "198.51.100.5:8805"  # the N4 interface's: the kernel's route to the SMF leaves from it
MGMT6 = "[2001:db8:1::5]:8805"
N46 = "[2001:db8:4::5]:8805"
ANY4 = "0.0.0.0:8806"
ANY6 = "[::]:8806"
LO4 = "127.0.0.1:8805"
SMF = "203.0.113.9"
SMF6 = "2001:db8:9::9"

# The kernel's routes as the fake tells them: destination -> source address
ROUTES = {SMF: "198.51.100.5", SMF6: "2001:db8:4::5", "203.0.113.77": "10.1.1.1"}


class Kernel:
    """A fake `source_address`: ``routes``' answer (None: no route), each address asked kept
    in ``asked``."""

    def __init__(self, routes: dict[str, str] | None = None) -> None:
        self.routes = ROUTES if routes is None else routes
        self.asked: list[str] = []

    def __call__(self, ip: str) -> str | None:
        self.asked.append(ip)
        return self.routes.get(ip)


def setup_node(
    smf: str, *listen: str, source_address: Callable[[str], str | None] | None = None
) -> PfcpNode:
    """A node listening on ``listen`` that associates to ``smf`` (port 8805), started."""
    node = node_listening_on(
        *listen, associate_to=(Endpoint(smf, 8805),), source_address=source_address
    )
    node.start(0.0)
    return node


def setup_from(node: PfcpNode) -> str | None:
    """The listen endpoint the node's first Association Setup Request leaves from."""
    node.handle_timer(0.0)
    (setup,) = node.datagrams_to_send()
    assert decode(setup.data).msg_type == M.ASSOCIATION_SETUP_REQUEST
    return setup.local


@pytest.mark.parametrize(
    ("smf", "listen", "expected"),
    [
        # the endpoint bound to the kernel's source, wherever it is listed
        (SMF, (MGMT, N4), N4),
        (SMF, (LO4, MGMT, "192.0.2.6:8805", N4), N4),
        (SMF6, (MGMT6, N46), N46),
        (SMF6, (MGMT6, MGMT, N46), N46),
        # ... before a wildcard listed earlier (both send from that source; the SMF's
        # answers to it reach the socket bound to it)
        (SMF, (ANY4, N4), N4),
        (SMF, (ANY6, MGMT, N4), N4),
        # several ports on the source's address: the first of them
        (SMF, (MGMT, "198.51.100.5:8807", N4), "198.51.100.5:8807"),
    ],
)
def test_the_setup_leaves_from_the_endpoint_bound_to_the_kernel_s_source(
    smf: str, listen: tuple[str, ...], expected: str
) -> None:
    """Was the first endpoint of the family off loopback (MGMT), whatever the routes."""
    kernel = Kernel()
    assert setup_from(setup_node(smf, *listen, source_address=kernel)) == expected
    assert kernel.asked == [smf]


@pytest.mark.parametrize(
    ("routes", "listen", "expected"),
    [
        # the kernel names no source (no route; the probe cannot tell): the first
        ({}, (MGMT, N4), MGMT),
        ({}, (ANY4, N4), ANY4),
        ({}, (MGMT6, N4, MGMT), N4),
        # ... a wildcard listed after it too (a wildcard takes a source no endpoint is
        # bound to, not an unknown one)
        ({}, (MGMT, ANY4, N4), MGMT),
        ({}, (MGMT, N4, ANY6), MGMT),
        ({SMF: "nonsense"}, (MGMT, ANY4), MGMT),
        # a source no endpoint is bound to, no wildcard: the first
        ({SMF: "10.1.1.1"}, (MGMT, N4), MGMT),
        ({SMF: "10.1.1.1"}, (LO4, MGMT, N4), MGMT),
        # ... with a wildcard of the family, that one (the kernel sends from the source)
        ({SMF: "10.1.1.1"}, (MGMT, ANY4, N4), ANY4),
        ({SMF: "10.1.1.1"}, (MGMT, N4, ANY6), ANY6),
        ({SMF: "10.1.1.1"}, (MGMT, ANY6, ANY4), ANY4),  # (IPv4's own first)
        # a source bound only to an endpoint of the other family (an IPv4-mapped one)
        ({SMF: "192.0.2.7"}, (MGMT, N4, "[::ffff:192.0.2.7]:8805"), MGMT),
        # not an address: as none
        ({SMF: "nonsense"}, (MGMT, N4), MGMT),
    ],
)
def test_an_unknown_source_keeps_the_first_endpoint(
    routes: dict[str, str], listen: tuple[str, ...], expected: str
) -> None:
    kernel = Kernel(routes)
    assert setup_from(setup_node(SMF, *listen, source_address=kernel)) == expected
    assert kernel.asked == [SMF]


def test_without_the_driver_s_source_the_first_endpoint() -> None:
    """The node's default knows no source: the rule of old."""
    assert setup_from(setup_node(SMF, MGMT, N4)) == MGMT
    assert setup_from(setup_node(SMF6, MGMT6, N46)) == MGMT6


@pytest.mark.parametrize(
    ("smf", "listen", "expected"),
    [
        # a loopback destination: the first endpoint of the family, loopback or not
        ("127.0.0.1", (MGMT, LO4, N4), MGMT),
        ("127.0.0.1", (LO4, N4), LO4),
        ("::1", ("[::1]:8805", N46), "[::1]:8805"),
        # one endpoint off loopback: that one, whatever the source
        (SMF, (LO4, MGMT), MGMT),
        (SMF, (MGMT, MGMT6, N46), MGMT),
        (SMF, (ANY4,), ANY4),
        (SMF6, (MGMT6, N4), MGMT6),
        # one address on several ports: its first, whatever the source
        (SMF, ("192.0.2.5:8805", "192.0.2.5:8806"), "192.0.2.5:8805"),
        (SMF, (LO4, "192.0.2.5:8806", "192.0.2.5:8805"), "192.0.2.5:8806"),
        (SMF6, (MGMT6, "[2001:db8:1::5]:8806"), MGMT6),
        # wildcards alone (IPv4: 0.0.0.0 and [::], which takes IPv4 too): the first
        (SMF, ("0.0.0.0:8805", "[::]:8806"), "0.0.0.0:8805"),
        (SMF, ("[::]:8806", "0.0.0.0:8805"), "0.0.0.0:8805"),
        (SMF6, ("[::]:8805", "[::]:8806"), "[::]:8805"),
        # none of the family: none named (the daemon's choice)
        (SMF6, (MGMT, N4), None),
    ],
)
def test_no_probe_for_loopback_nor_without_a_choice(
    smf: str, listen: tuple[str, ...], expected: str | None
) -> None:
    kernel = Kernel({smf: "198.51.100.5" if "." in smf else "2001:db8:4::5"})
    assert setup_from(setup_node(smf, *listen, source_address=kernel)) == expected
    assert kernel.asked == []


def test_a_restored_association_at_a_link_local_or_nowhere_address_is_not_asked() -> None:
    """Its record names no endpoint: the first of the family, the driver not asked (it
    cannot name a link-local address's source: no scope)."""
    for address, listen, expected in (
        ("fe80::9", (MGMT6, N46), MGMT6),
        ("169.254.1.9", (MGMT, N4), MGMT),
        ("ff02::1", (MGMT6, N46), MGMT6),
        ("::", (MGMT6, N46), MGMT6),
        ("0.0.0.0", (MGMT, N4), MGMT),
        ("224.0.0.9", (MGMT, N4), MGMT),
    ):
        kernel = Kernel({address: "2001:db8:4::5" if ":" in address else "198.51.100.5"})
        assert restored_local(address, listen, kernel) == expected, address
        assert kernel.asked == []


def test_the_association_keeps_the_endpoint_its_setup_left_from() -> None:
    """Its heartbeats leave from N4 too (`Association.local`), and its record names it."""
    node = setup_node(SMF, MGMT, N4, source_address=Kernel())
    node.handle_timer(0.0)
    (setup,) = node.datagrams_to_send()
    assert setup.local == N4
    answer = Message(
        M.ASSOCIATION_SETUP_RESPONSE,
        decode(setup.data).seq,
        [NodeID.from_text("smf"), CauseIE(Cause.REQUEST_ACCEPTED), RecoveryTimeStamp(1)],
    )
    node.datagram_received(encode(answer), (SMF, 8805), 0.1, N4)
    node.datagrams_to_send()
    (assoc,) = node.associations()
    assert assoc.local == N4
    node.handle_timer(1000.5)
    beats = [t for t in node.datagrams_to_send() if decode(t.data).msg_type == M.HEARTBEAT_REQUEST]
    assert [t.local for t in beats] == [N4]
    assert assoc.to_record(0.0)["local"] == N4


def restored_local(address: str, listen: tuple[str, ...], kernel: Kernel | None) -> str | None:
    """The endpoint a node listening on ``listen`` names for "smf" at ``address`` (port
    8805), restored from a record that names none."""
    record: dict[str, object] = {
        "node_id": "smf",
        "address": address,
        "port": 8805,
        "cp_recovery_time_stamp": 1,
        "initiator": "cp",
        "established_at": 0.0,
    }
    node = node_listening_on(
        *listen, associations=[Association.from_record(record, 0.0, 0.0)], source_address=kernel
    )
    (assoc,) = node.associations()
    return assoc.local


def test_a_restored_association_without_an_endpoint_gets_the_source_s() -> None:
    """A record written before pfcpd kept the endpoint: named by the kernel's source."""
    assert restored_local(SMF, (MGMT, N4), Kernel()) == N4
    assert restored_local(SMF, (MGMT, N4), Kernel({})) == MGMT
    assert restored_local(SMF, (MGMT, N4), None) == MGMT


def test_a_report_to_the_other_family_leaves_from_the_source_s_endpoint() -> None:
    """An IPv6 association; its CP F-SEID has an IPv4 address alone (`_request_address`)."""
    kernel = Kernel()
    node = node_with(("2001:db8:9::2", 8805), MGMT6, MGMT, N4, source_address=kernel)
    assert sent_to(node, SMF, None) == ((SMF, 8805), N4)
    assert sent_to(node, "203.0.113.50", None) == (("203.0.113.50", 8805), MGMT)  # no route
    assert kernel.asked == [SMF, "203.0.113.50"]
    # the association's family: its endpoint, nothing asked
    kernel.asked.clear()
    assert sent_to(node, None, "2001:db8:9::3") == (("2001:db8:9::3", 8805), MGMT6)
    assert kernel.asked == []


ASSOC4 = ("192.0.2.9", 8805)  # an IPv4 association, set up through its endpoint
FROM4 = "192.0.2.2:8805"


@pytest.mark.parametrize(
    ("ipv6", "listen", "allowed", "host"),
    [
        # link-local, and the association is not (nor of that family)
        ("fe80::5", (FROM4, MGMT6, N46), None, None),
        # never a destination: multicast, unspecified
        ("ff02::1", (FROM4, MGMT6, N46), None, None),
        ("::", (FROM4, MGMT6, N46), None, None),
        # the node's own: a listen address; with a wildcard, one of the host's
        ("2001:db8:1::5", (FROM4, MGMT6, N46), None, None),
        ("2001:db8:4::7", (FROM4, "[::]:8806", N46), None, "2001:db8:4::7"),
        # outside the allow-list
        (SMF6, (FROM4, MGMT6, N46), ("192.0.2.0/24", "2001:db8:9::77/128"), None),
    ],
)
def test_a_report_asks_nothing_about_an_address_it_refuses(
    ipv6: str, listen: tuple[str, ...], allowed: tuple[str, ...] | None, host: str | None
) -> None:
    """An IPv4 association, a CP F-SEID with an IPv6 address alone, two IPv6 endpoints
    to choose from: refused (`_answerable`), the report goes to the association's address
    from its endpoint, as before the kernel's source was asked; and the driver is asked
    nothing about the address (was: asked first, a probe per report, one socket per
    interface for a link-local one)."""
    kernel = Kernel({ipv6: "2001:db8:4::5", "2001:db8:9::77": "2001:db8:4::5"})
    node = node_with(
        ASSOC4,
        *listen,
        allowed=allowed,
        is_host_address=lambda ip: ip == host,
        source_address=kernel,
    )
    assert sent_to(node, None, ipv6) == (ASSOC4, FROM4)
    assert kernel.asked == []
    # an address taken: asked once, its endpoint the source's
    assert sent_to(node, None, "2001:db8:9::77") == (("2001:db8:9::77", 8805), N46)
    assert kernel.asked == ["2001:db8:9::77"]
