"""The vpp datapath's settings from a `datapath` section, validated as pfcpd validates it
(the whole configuration file through `pfcpd.config.parse_config`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pfcpd.config import VppDatapathConfig, parse_config
from pfcpd.datapath.vpp.settings import VppDatapathSettings


def settings_of(datapath: dict[str, Any], names: Sequence[str]) -> VppDatapathSettings:
    """``datapath``: the section; ``names``: the network instances, in order."""
    cfg = parse_config(
        {
            "node_id": "upf.example.net",
            "pfcp": {"listen": ["127.0.0.1:8805"], "allowed_peers": "any"},
            "interfaces": {"n3": {"address": "10.0.0.1"}},
            "network_instances": {
                name: {"ue_pools": [f"10.{45 + i}.0.0/16"]} for i, name in enumerate(names)
            },
            "state_dir": "/var/lib/pfcpd",
            "datapath": datapath,
        }
    )
    assert isinstance(cfg.datapath, VppDatapathConfig)
    return VppDatapathSettings.from_config(cfg.datapath, list(cfg.network_instances))
