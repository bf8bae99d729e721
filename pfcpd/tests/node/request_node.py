"""A sans-IO node with one CP associated, and where it queues a Session Report Request to
that CP: for the tests of where session-related requests go (the address, port and listen
endpoint the node picks, `PfcpNode._request_address`); and the node alone, made from its
listen endpoints, for the tests that associate or restore it themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from ipaddress import ip_network

from pfcpd.address import Address
from pfcpd.config import Endpoint, PfcpConfig, parse_endpoint
from pfcpd.node import PfcpNode
from pfcpd.node.association import Association
from pfcpd.pfcp import Message, MessageType, encode
from pfcpd.pfcp.ies_address import NodeID
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp

M = MessageType


def node_listening_on(
    *listen: str,
    node_id: str = "upf.test",
    allowed: tuple[str, ...] | None = None,
    associate_to: tuple[Endpoint, ...] = (),
    associations: Iterable[Association] = (),
    is_host_address: Callable[[str], bool] | None = None,
    source_address: Callable[[str], str | None] | None = None,
) -> PfcpNode:
    """A node listening on ``listen`` (endpoints as in the configuration), not started, its
    heartbeat interval 1000 s; ``allowed``: pfcp.allowed_peers (None: any peer);
    ``associate_to``: pfcp.associate_to; ``associations``: the restored ones;
    ``is_host_address``, ``source_address``: the driver's (None: the node's defaults)."""
    return PfcpNode(
        node_id=node_id,
        config=PfcpConfig(
            listen=tuple(parse_endpoint(e) for e in listen),
            allowed_peers=None if allowed is None else tuple(map(ip_network, allowed)),
            heartbeat_interval=1000.0,
            associate_to=associate_to,
        ),
        recovery_time_stamp=3_950_000_000,
        associations=associations,
        is_host_address=is_host_address,
        source_address=source_address,
    )


def node_with(
    association: Address,
    *listen: str,
    node_id: str = "upf.test",
    allowed: tuple[str, ...] | None = None,
    is_host_address: Callable[[str], bool] | None = None,
    source_address: Callable[[str], str | None] | None = None,
) -> PfcpNode:
    """A node listening on ``listen`` (`node_listening_on`), started, the CP "smf" associated
    from ``association`` through the first endpoint."""
    node = node_listening_on(
        *listen,
        node_id=node_id,
        allowed=allowed,
        is_host_address=is_host_address,
        source_address=source_address,
    )
    node.start(0.0)
    setup = Message(M.ASSOCIATION_SETUP_REQUEST, 1, [NodeID.from_text("smf"), RecoveryTimeStamp(1)])
    node.datagram_received(encode(setup), association, 0.0, listen[0])
    node.datagrams_to_send()
    return node


def sent_to(node: PfcpNode, ipv4: str | None, ipv6: str | None) -> tuple[Address, str | None]:
    """Where the node queues a Session Report Request to "smf" whose CP F-SEID has these
    addresses: (destination, the listen endpoint it leaves from)."""
    report = Message(M.SESSION_REPORT_REQUEST, 0, [], 0x1)
    assert node.send_request("smf", report, 1.0, ipv4, ipv6) is not None
    (tx,) = node.datagrams_to_send()
    return tx.addr, tx.local
