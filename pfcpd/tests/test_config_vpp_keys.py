"""The datapath.vpp keys (kind: vpp): defaults, a full section, and every problem reported
with its key, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from pfcpd.config import ConfigError, VppDatapathConfig, parse_config

BASE = {
    "node_id": "upf.example.net",
    "pfcp": {"listen": ["127.0.0.1:8805"], "allowed_peers": "any"},
    "interfaces": {"n3": {"address": "10.0.0.1"}},
    "network_instances": {"internet": {"ue_pools": ["10.45.0.0/16"]}, "ims": {}},
    "state_dir": "/var/lib/pfcpd",
}


def vpp_datapath(datapath: dict) -> VppDatapathConfig:
    cfg = parse_config({**BASE, "datapath": datapath})
    assert isinstance(cfg.datapath, VppDatapathConfig)
    return cfg.datapath


def test_defaults() -> None:
    for datapath in ({"kind": "vpp"}, {"kind": "vpp", "vpp": None}):
        vpp = vpp_datapath(datapath).vpp
        assert vpp.api_socket == Path("/run/vpp/api.sock")
        assert (vpp.connect_timeout, vpp.call_timeout, vpp.usage_refresh) == (60.0, 2.0, 1.0)
        assert vpp.n3_interfaces == vpp.n9_interfaces == () and vpp.network_instances == {}
        assert vpp.instance("ims").n6_interfaces == () and vpp.instance("ims").ip4_table_id == 0


def test_full() -> None:
    vpp = vpp_datapath(
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
                    "ims": {"n6_interfaces": ["host-ims"], "ip4_table_id": 20, "ip6_table_id": 21},
                    "internet": None,
                },
            },
        }
    ).vpp
    assert vpp.api_socket == Path("/tmp/vpp/api.sock") and vpp.call_timeout == 0.5
    assert vpp.n3_interfaces == ("host-n3",) and vpp.n9_interfaces == ("host-n9",)
    ims = vpp.instance("ims")
    assert (ims.n6_interfaces, ims.ip4_table_id, ims.ip6_table_id) == (("host-ims",), 20, 21)
    assert vpp.instance("internet").n6_interfaces == ()


def test_every_problem_with_its_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            {
                **BASE,
                "datapath": {
                    "kind": "vpp",
                    "n6_tun": {},
                    "vpp": {
                        "api_socket": "run/vpp.sock",
                        "call_timeout": 0,
                        "connect_timeout": float("nan"),
                        "usage_refresh": True,
                        "n3_interfaces": ["eth0", "eth0", 5],
                        "network_instances": {
                            "nowhere": {},
                            "internet": {"n6_interfaces": ["eth0"], "ip4_table_id": -1, "x": 1},
                        },
                        "bogus": 1,
                    },
                },
            }
        )
    assert sorted(info.value.errors) == [
        "datapath.n6_tun: unknown key (known: kind, vpp)",
        "datapath.vpp.api_socket: must be an absolute path, got 'run/vpp.sock'",
        "datapath.vpp.bogus: unknown key (known: api_socket, connect_timeout, call_timeout, "
        "usage_refresh, n3_interfaces, n9_interfaces, network_instances)",
        "datapath.vpp.call_timeout: must be a finite number greater than 0, got 0",
        "datapath.vpp.connect_timeout: must be a finite number greater than 0, got nan",
        "datapath.vpp.n3_interfaces[1]: 'eth0' is listed twice",
        "datapath.vpp.n3_interfaces[2]: not a VPP interface name: 5",
        "datapath.vpp.network_instances.internet.ip4_table_id: must be a FIB table id "
        "(0-4294967294), got -1",
        "datapath.vpp.network_instances.internet.x: unknown key "
        "(known: n6_interfaces, ip4_table_id, ip6_table_id)",
        "datapath.vpp.network_instances.nowhere: no such network instance in network_instances",
        "datapath.vpp.usage_refresh: must be a finite number greater than 0, got True",
        "datapath.vpp: interface 'eth0' is both N3 and N6 of internet",
    ]


@pytest.mark.parametrize(
    ("vpp", "expected"),
    [
        ({"call_timeout": "fast"}, "datapath.vpp.call_timeout: must be a finite number"),
        ({"n9_interfaces": "eth1"}, "datapath.vpp.n9_interfaces: must be a list of VPP"),
        ({"n3_interfaces": ["a b"]}, "datapath.vpp.n3_interfaces[0]: not a VPP interface"),
        ({"n3_interfaces": ["x" * 64]}, "datapath.vpp.n3_interfaces[0]: not a VPP interface"),
        (
            {"network_instances": {"ims": {"ip6_table_id": 2**32 - 1}}},
            "datapath.vpp.network_instances.ims.ip6_table_id: must be a FIB table id",
        ),
        (
            {"n3_interfaces": ["eth0"], "n9_interfaces": ["eth0"]},
            "datapath.vpp: interface 'eth0' is both N3 and N9",
        ),
        ("eth0", "datapath.vpp: must be a mapping, got str"),
    ],
)
def test_one_problem(vpp: object, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, "datapath": {"kind": "vpp", "vpp": vpp}})
    assert any(e.startswith(expected) for e in info.value.errors), info.value.errors
