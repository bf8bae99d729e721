"""datapath.* keys of the local datapath."""

from __future__ import annotations

import ipaddress

import pytest

from pfcpd.config import ConfigError
from pfcpd.datapath.local.settings import LocalDatapathSettings


def test_defaults_and_values() -> None:
    s = LocalDatapathSettings.from_mapping({"kind": "local", "n3_address": "10.200.0.2"})
    assert s.n3_address == ipaddress.IPv4Address("10.200.0.2")
    assert (s.n6, s.core_lib) == ((("internet", "upf-n6"),), None)
    assert s.network_instances == {"internet": 0} and s.n6_tuns == ("upf-n6",)
    s = LocalDatapathSettings.from_mapping(
        {"n3_address": "fd00::2", "n6_tun": "n6", "expected_sessions": 10, "core_lib": "/x.so"}
    )
    assert s.n3_address.version == 6 and s.expected_sessions == 10 and s.core_lib == "/x.so"


def test_every_problem_is_named() -> None:
    with pytest.raises(ConfigError) as e:
        LocalDatapathSettings.from_mapping(
            {
                "n3_address": "10.200.0.300",
                "n6_tun": "a-very-long-interface-name",
                "expected_sessions": 0,
                "n6_network_instance": "",
                "color": "blue",
            }
        )
    keys = sorted(line.split(":")[0] for line in e.value.errors)
    assert keys == [
        "datapath.color",
        "datapath.expected_sessions",
        "datapath.n3_address",
        "datapath.n6_network_instance",
        "datapath.n6_tun",
    ]
    with pytest.raises(ConfigError, match=r"datapath.n3_address: required"):
        LocalDatapathSettings.from_mapping({"kind": "local"})


def test_several_n6_network_instances() -> None:
    s = LocalDatapathSettings.from_mapping(
        {"n3_address": "10.200.0.2", "n6_tun": {"internet": "upf-n6", "ims": "upf-ims"}}
    )
    assert s.network_instances == {"internet": 0, "ims": 1}
    assert s.n6_tuns == ("upf-n6", "upf-ims")
    with pytest.raises(ConfigError) as e:
        LocalDatapathSettings.from_mapping(
            {
                "n3_address": "10.200.0.2",
                "n6_tun": {"internet": "upf-n6", "ims": "upf-n6", "iot": "no/slash"},
                "n6_network_instance": "internet",
            }
        )
    assert sorted(e.value.errors) == [
        "datapath.n6_network_instance: not with an n6_tun mapping (its keys are the network "
        "instances)",
        "datapath.n6_tun.iot: not an interface name (1-15 chars): 'no/slash'",
        "datapath.n6_tun: TUN 'upf-n6' used by several network instances",
    ]
    with pytest.raises(ConfigError, match=r"datapath\.n6_tun: the mapping is empty"):
        LocalDatapathSettings.from_mapping({"n3_address": "10.200.0.2", "n6_tun": {}})
