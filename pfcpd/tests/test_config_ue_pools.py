"""network_instances.<name>.ue_pools: the pools of one network instance share no address
(each pool would hand it out to a session of its own); two network instances may have the
same addresses (two data networks' private spaces: pools, allocations and the datapath's
downlink lookup are per instance), except with the local datapath, which routes every
instance's pools to its TUN in the host's one routing table."""

from __future__ import annotations

from typing import Any

import pytest

from pfcpd.config import ConfigError, parse_config

BASE: dict[str, Any] = {
    "node_id": "upf.example.net",
    "pfcp": {"listen": ["127.0.0.1:8805"], "allowed_peers": "any"},
    "interfaces": {"n3": {"address": "10.0.0.1"}},
    "state_dir": "/var/lib/pfcpd",
}


def document(instances: dict[str, list[str]], kind: str = "vpp") -> dict[str, Any]:
    return {
        **BASE,
        "datapath": {"kind": kind},
        "network_instances": {name: {"ue_pools": pools} for name, pools in instances.items()},
    }


def errors_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.errors


@pytest.mark.parametrize(
    ("pools", "expected"),
    [
        (
            ["10.45.0.0/16", "10.46.0.0/16", "10.45.128.0/17"],
            "network_instances.internet.ue_pools[2]: 10.45.128.0/17 is inside 10.45.0.0/16"
            " (ue_pools[0]) of network instance 'internet': its UE pools must not share"
            " addresses",
        ),
        (
            ["10.45.7.0/24", "10.45.0.0/16"],
            "network_instances.internet.ue_pools[1]: 10.45.0.0/16 contains 10.45.7.0/24"
            " (ue_pools[0]) of network instance 'internet'",
        ),
        (
            ["10.45.0.0/16", "2001:db8:45::/48", "10.45.0.0/16"],
            "network_instances.internet.ue_pools[2]: 10.45.0.0/16 is the same network as"
            " 10.45.0.0/16 (ue_pools[0]) of network instance 'internet'",
        ),
        (
            ["2001:db8:45::/48", "10.45.0.0/16", "2001:db8:45:7::/64"],
            "network_instances.internet.ue_pools[2]: 2001:db8:45:7::/64 is inside"
            " 2001:db8:45::/48 (ue_pools[0]) of network instance 'internet'",
        ),
        (
            ["2001:db8:45::/120", "2001:db8:45::/48"],
            "network_instances.internet.ue_pools[1]: 2001:db8:45::/48 contains"
            " 2001:db8:45::/120 (ue_pools[0])",
        ),
        (
            ["2001:db8:45::/48", "2001:db8:45::/48"],
            "network_instances.internet.ue_pools[1]: 2001:db8:45::/48 is the same network as"
            " 2001:db8:45::/48 (ue_pools[0])",
        ),
    ],
)
@pytest.mark.parametrize("kind", ["local", "vpp"])
def test_overlapping_pools_of_one_instance_are_refused(
    pools: list[str], expected: str, kind: str
) -> None:
    errors = errors_of(document({"ims": ["10.60.0.0/16"], "internet": pools}, kind))
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_every_overlapping_pair_is_reported_with_both_pools() -> None:
    errors = errors_of(
        document(
            {
                "internet": ["10.45.0.0/16", "10.45.0.0/24", "10.45.0.128/25"],
                "ims": ["fd00::/56", "fd00:0:0:1::/64"],
            }
        )
    )
    assert [e.split(" of network instance")[0] for e in errors] == [
        "network_instances.internet.ue_pools[1]: 10.45.0.0/24 is inside 10.45.0.0/16 (ue_pools[0])",
        "network_instances.internet.ue_pools[2]: 10.45.0.128/25 is inside 10.45.0.0/16"
        " (ue_pools[0])",
        "network_instances.internet.ue_pools[2]: 10.45.0.128/25 is inside 10.45.0.0/24"
        " (ue_pools[1])",
        "network_instances.ims.ue_pools[1]: fd00:0:0:1::/64 is inside fd00::/56 (ue_pools[0])",
    ]


@pytest.mark.parametrize("kind", ["local", "vpp"])
def test_disjoint_pools_are_accepted(kind: str) -> None:
    pools = ["10.45.0.0/16", "10.46.0.0/16", "10.44.255.0/24", "2001:db8:45::/48"]
    pools += ["2001:db8:46::/48", "2001:db8:44:ffff::/64"]
    cfg = parse_config(document({"internet": pools, "ims": ["10.60.0.0/16", "fd00::/48"]}, kind))
    assert [str(p) for p in cfg.network_instances["internet"].ue_pools] == pools


def test_pools_of_two_instances_may_overlap_with_the_vpp_datapath() -> None:
    instances = {
        "internet": ["10.45.0.0/16", "2001:db8:45::/48"],
        "corporate": ["10.45.0.0/16", "2001:db8:45:1::/64"],
        "iot": ["10.45.3.0/24"],
    }
    cfg = parse_config(document(instances))
    assert {name: [str(p) for p in ni.ue_pools] for name, ni in cfg.network_instances.items()} == (
        instances
    )


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("10.45.0.0/16", "10.45.0.0/16", "UE pool 10.45.0.0/16 of network instance 'ims'"),
        ("10.45.0.0/16", "10.45.3.0/24", "UE pool 10.45.3.0/24 of network instance 'ims'"),
        ("fd00::/56", "fd00:0:0:1::/64", "UE pool fd00:0:0:1::/64 of network instance 'ims'"),
    ],
)
def test_pools_of_two_instances_overlapping_are_refused_by_the_local_datapath(
    first: str, second: str, expected: str
) -> None:
    errors = errors_of(document({"internet": [first], "ims": [second]}, "local"))
    assert errors == [
        f"datapath: kind local: {expected} overlaps {first} of 'internet'; the local datapath"
        " routes both to their TUN devices in the host's one routing table"
    ]
