"""UP Function Features: pfcpd advertises exactly what it implements.

Today the node implements no optional feature and no session engine is plugged in, so the
set is empty and the conditional UP Function Features IE is left out. A feature joins
``NODE_UP_FEATURES`` (or a session engine's ``up_features``) together with the code and the
tests that make it true; this test then changes in the same commit.
"""

from __future__ import annotations

import ipaddress

from pfcpd.config import PfcpConfig
from pfcpd.node import PfcpNode
from pfcpd.node.features import NODE_UP_FEATURES, up_function_features_ie
from pfcpd.node.session_handler import NoSessionEngine
from pfcpd.pfcp import IEType, Message, MessageType, decode, encode
from pfcpd.pfcp.ies_address import NodeID
from pfcpd.pfcp.ies_flags import UPFunctionFeatures
from pfcpd.pfcp.ies_scalar import RecoveryTimeStamp


def test_advertised_set_is_pinned():
    assert frozenset() == NODE_UP_FEATURES
    assert NoSessionEngine().up_features() == frozenset()


def test_association_setup_response_carries_no_features_ie():
    cfg = PfcpConfig(listen=(), allowed_peers=(ipaddress.ip_network("127.0.0.0/8"),))
    node = PfcpNode(node_id="127.0.0.1", config=cfg, recovery_time_stamp=1)
    request = Message(
        MessageType.ASSOCIATION_SETUP_REQUEST,
        1,
        [NodeID.from_text("smf"), RecoveryTimeStamp(2)],
    )
    node.datagram_received(encode(request), ("127.0.0.2", 8805), 0.0)
    [tx] = node.datagrams_to_send()
    assert decode(tx.data).get(IEType.UP_FUNCTION_FEATURES) is None


def test_a_session_engine_features_are_advertised():
    class Engine(NoSessionEngine):
        def up_features(self) -> frozenset[str]:
            return frozenset({"FTUP", "UEIP"})

    cfg = PfcpConfig(listen=(), allowed_peers=None)
    node = PfcpNode(
        node_id="127.0.0.1", config=cfg, recovery_time_stamp=1, session_handler=Engine()
    )
    request = Message(
        MessageType.ASSOCIATION_SETUP_REQUEST, 1, [NodeID.from_text("smf"), RecoveryTimeStamp(2)]
    )
    node.datagram_received(encode(request), ("127.0.0.2", 8805), 0.0)
    ie = decode(node.datagrams_to_send()[0].data).get(IEType.UP_FUNCTION_FEATURES)
    assert isinstance(ie, UPFunctionFeatures)
    assert set(ie.names()) == {"FTUP", "UEIP"}
    assert up_function_features_ie([]) is None
