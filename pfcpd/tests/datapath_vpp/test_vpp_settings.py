"""The vpp datapath's settings from its validated keys: defaults, a full configuration, and
check-config reporting a problem (every problem with its key: tests/test_config_vpp_keys.py)."""

from __future__ import annotations

import pytest
from vpp_config import settings_of

from pfcpd.config import ConfigError, parse_config
from pfcpd.datapath.vpp.settings import VppNetworkInstance

NIS = ("internet", "ims")


def test_defaults() -> None:
    s = settings_of({"kind": "vpp"}, NIS)
    assert s.api_socket == "/run/vpp/api.sock"
    assert (s.connect_timeout, s.call_timeout, s.usage_refresh) == (60.0, 2.0, 1.0)
    assert s.instances == (VppNetworkInstance("internet"), VppNetworkInstance("ims"))
    assert s.network_instances == {"internet": 0, "ims": 1}


def test_full() -> None:
    s = settings_of(
        {
            "kind": "vpp",
            "vpp": {
                "api_socket": "/tmp/vpp/api.sock",
                "connect_timeout": 5,
                "call_timeout": 0.5,
                "usage_refresh": 2,
                "n3_interfaces": ["host-n3"],
                "n9_interfaces": ["host-n9"],
                "network_instances": {
                    "ims": {"n6_interfaces": ["host-ims"], "ip4_table_id": 20, "ip6_table_id": 21}
                },
            },
        },
        NIS,
    )
    assert s.api_socket == "/tmp/vpp/api.sock" and s.call_timeout == 0.5
    assert s.n3_interfaces == ("host-n3",) and s.n9_interfaces == ("host-n9",)
    assert s.instances[1] == VppNetworkInstance("ims", ("host-ims",), 20, 21)
    assert s.instances[0] == VppNetworkInstance("internet")


BASE = {
    "node_id": "upf.example.net",
    "pfcp": {"listen": ["127.0.0.1:8805"], "allowed_peers": "any"},
    "interfaces": {"n3": {"address": "10.0.0.1"}},
    "network_instances": {"internet": {"ue_pools": ["10.45.0.0/16"]}},
    "state_dir": "/var/lib/pfcpd",
}


def test_check_config_validates_the_vpp_keys() -> None:
    """pfcpd check-config (parse_config) reports datapath.vpp problems; a good section
    passes."""
    good = parse_config(
        {**BASE, "datapath": {"kind": "vpp", "vpp": {"network_instances": {"internet": {}}}}}
    )
    assert good.datapath_kind == "vpp"
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, "datapath": {"kind": "vpp", "vpp": {"call_timeout": "fast"}}})
    assert any(e.startswith("datapath.vpp.call_timeout:") for e in info.value.errors)
