"""datapath.* keys of the local datapath."""

from __future__ import annotations

import ipaddress

import pytest

from pfcpd.config import ConfigError
from pfcpd.datapath.local.settings import LocalDatapathSettings


def test_defaults_and_values() -> None:
    s = LocalDatapathSettings.from_mapping({"kind": "local", "n3_address": "10.200.0.2"})
    assert s.n3_address == ipaddress.IPv4Address("10.200.0.2")
    assert (s.n6_tun, s.n6_network_instance, s.core_lib) == ("upf-n6", "internet", None)
    assert s.network_instances == {"internet": 0}
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
