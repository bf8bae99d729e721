"""datapath.* keys of the local datapath, with interfaces.n3 and network_instances."""

from __future__ import annotations

import ipaddress

import pytest

from pfcpd.config import ConfigError, LocalDatapathConfig, parse_config
from pfcpd.datapath.local.settings import LocalDatapathSettings, N6Instance

POOL = ipaddress.ip_network("10.45.0.0/16")
POOL6 = ipaddress.ip_network("fd00:45::/64")


def local(**keys: object) -> LocalDatapathConfig:
    return LocalDatapathConfig(kind="local", **keys)  # type: ignore[arg-type]


def document(datapath: dict, network_instances: dict) -> dict:
    return {
        "node_id": "upf.example.net",
        "pfcp": {"listen": ["127.0.0.1"], "allowed_peers": ["127.0.0.0/8"]},
        "interfaces": {"n3": {"address": "10.200.0.2"}},
        "network_instances": network_instances,
        "state_dir": "/var/lib/pfcpd",
        "datapath": {"kind": "local", **datapath},
    }


def errors_of(datapath: dict, network_instances: dict) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(document(datapath, network_instances))
    return e.value.errors


def test_defaults_from_the_network_instances() -> None:
    s = LocalDatapathSettings.from_config(local(), "10.200.0.2", {"internet": [POOL]})
    assert s.n3_address == ipaddress.IPv4Address("10.200.0.2")
    assert s.n6 == (N6Instance("internet", "upf-internet", (POOL,)),)
    assert s.network_instances == {"internet": 0} and s.n6_tuns == ("upf-internet",)
    assert (s.core_lib, s.expected_sessions) == (None, 1024)
    s = LocalDatapathSettings.from_config(
        local(expected_sessions=10, core_lib="/x.so"), "fd00::2", {}
    )
    assert s.n3_address.version == 6 and s.n6 == () and s.expected_sessions == 10
    assert s.core_lib == "/x.so"


def test_several_network_instances_in_config_order() -> None:
    s = LocalDatapathSettings.from_config(
        local(n6_tun={"ims": "n6-ims"}), "10.200.0.2", {"internet": [POOL], "ims": [POOL6]}
    )
    assert s.network_instances == {"internet": 0, "ims": 1}
    assert s.n6_tuns == ("upf-internet", "n6-ims") and s.n6[1].ue_pools == (POOL6,)


def test_every_problem_is_named() -> None:
    errors = errors_of(
        {
            "n6_tun": {"internet": "a-very-long-interface-name", "iot": "t0"},
            "expected_sessions": 0,
            "n3_address": "10.0.0.1",
            "color": "blue",
        },
        {"internet": {}, "a-long-network-instance-name": {}},
    )
    assert sorted(errors) == [
        "datapath.color: unknown key (known: kind, n6_tun, core_lib, expected_sessions)",
        "datapath.expected_sessions: must be an integer >= 1, got 0",
        "datapath.n3_address: unknown key (known: kind, n6_tun, core_lib, expected_sessions)",
        "datapath.n6_tun.a-long-network-instance-name: is required: the default "
        "'upf-a-long-network-instance-name' is no interface name",
        "datapath.n6_tun.internet: not an interface name (1-15 chars): "
        "'a-very-long-interface-name'",
        "datapath.n6_tun.iot: no such network instance in network_instances",
    ]
    assert errors_of({"n6_tun": {"a": "t0", "b": "t0"}}, {"a": {}, "b": {}}) == [
        "datapath.n6_tun: TUN 't0' used by several network instances"
    ]
    assert errors_of({"n6_tun": "upf-n6"}, {}) == ["datapath.n6_tun: must be a mapping, got str"]
    assert errors_of({"core_lib": 5}, {}) == ["datapath.core_lib: must be a string, got int"]


def test_check_config_validates_the_local_datapath_keys() -> None:
    """pfcpd.config (check-config, run) reports datapath.* problems with the others."""
    doc = document({"n6_tun": {"ims": "x"}, "n3_address": "10.0.0.1"}, {})
    doc["network_instances"] = {"internet": {"ue_pools": ["10.45.0.0/16"]}}
    doc["node_id"] = "bad host!"
    with pytest.raises(ConfigError) as e:
        parse_config(doc)
    assert sorted(e.value.errors) == [
        "datapath.n3_address: unknown key (known: kind, n6_tun, core_lib, expected_sessions)",
        "datapath.n6_tun.ims: no such network instance in network_instances",
        "node_id: must be an IPv4/IPv6 address or an FQDN, got 'bad host!'",
    ]
    doc["node_id"] = "upf.example.net"
    doc["datapath"] = {"kind": "local"}  # the minimal configuration is complete
    assert parse_config(doc).datapath == local()
