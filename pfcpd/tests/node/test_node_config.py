"""Configuration validation: every error names its key; check-config exits 0 or 1."""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from docs_config import minimal_config_text

from pfcpd.config import ConfigError, parse_config, parse_endpoint

MINIMAL = """
node_id: 127.0.0.1
pfcp:
  listen: ["127.0.0.1:8805"]
  allowed_peers: ["127.0.0.0/8"]
  associate_to: []
  heartbeat_interval: 10
  t1: 3
  n1: 3
datapath:
  kind: local
interfaces:
  n3: {address: 127.0.0.1}
network_instances:
  internet: {ue_pools: ["10.45.0.0/16"]}
state_dir: /var/lib/pfcpd
"""


def doc(**changes: object) -> dict:
    data = yaml.safe_load(MINIMAL)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = data
        for key in parents:
            target = target[key]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return data


def errors_of(data: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.errors


def test_the_issue_schema_is_valid():
    cfg = parse_config(yaml.safe_load(MINIMAL))
    assert cfg.node_id == "127.0.0.1"
    assert [str(e) for e in cfg.pfcp.listen] == ["127.0.0.1:8805"]
    assert (cfg.pfcp.t1, cfg.pfcp.n1, cfg.pfcp.heartbeat_interval) == (3.0, 3, 10.0)
    assert cfg.datapath_kind == "local" and cfg.interfaces["n3"].address == "127.0.0.1"
    assert str(cfg.network_instances["internet"].ue_pools[0]) == "10.45.0.0/16"
    assert str(cfg.state_dir) == "/var/lib/pfcpd"
    assert str(cfg.metrics_listen) == "127.0.0.1:9805"
    assert cfg.logging.format == "human"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"pfcp__t1": "abc"}, "pfcp.t1: must be a finite number greater than 0"),
        ({"pfcp__t1": math.nan}, "pfcp.t1: must be a finite number greater than 0, got nan"),
        ({"pfcp__heartbeat_interval": math.inf}, "pfcp.heartbeat_interval: must be a finite"),
        ({"pfcp__drain_timeout": math.nan}, "pfcp.drain_timeout: must be a finite number >= 0"),
        ({"pfcp__graceful_release_period": math.inf}, "pfcp.graceful_release_period: must be"),
        ({"pfcp__n1": 0}, "pfcp.n1: must be an integer >= 1"),
        ({"pfcp__listen": ["127.0.0.1:99999"]}, "pfcp.listen[0]:"),
        ({"pfcp__listen": ["somehost:8805"]}, "pfcp.listen[0]:"),
        ({"pfcp__allowed_peers": []}, "pfcp.allowed_peers: an empty list admits no peer"),
        ({"pfcp__allowed_peers": KeyError}, "pfcp.allowed_peers: is required"),
        ({"pfcp__allowed_peers": ["10.0.0.1/8"]}, "pfcp.allowed_peers[0]: not a CIDR"),
        ({"pfcp__associate_to": ["192.0.2.1"]}, "pfcp.associate_to[0]: 192.0.2.1 is not in"),
        ({"pfcp__associate_to": ["smf_1.example:8805"]}, "pfcp.associate_to[0]: 'smf_1."),
        ({"pfcp__associate_to": ["[smf.example]:8805"]}, "pfcp.associate_to[0]:"),
        ({"pfcp__associate_to": ["smf.example:x"]}, "pfcp.associate_to[0]: 'smf.example:x'"),
        ({"pfcp__listen": ["127.0.0.1", "127.0.0.1:8805"]}, "pfcp.listen[1]: 127.0.0.1:8805 is"),
        ({"pfcp__associate_to": ["127.0.0.2", "127.0.0.2"]}, "pfcp.associate_to[1]: 127.0.0.2:"),
        ({"pfcp__max_associations": 0}, "pfcp.max_associations: must be an integer >= 1"),
        (
            {"pfcp__max_associations": 1, "pfcp__associate_to": ["127.0.0.2", "127.0.0.3"]},
            "pfcp.max_associations: is 1, fewer than the 2 associate_to entries",
        ),
        (
            {"pfcp__allowed_peers": "any", "pfcp__associate_to": ["[::1]:8805"]},
            "pfcp.associate_to[0]: ::1 is IPv6 but pfcp.listen has no IPv6 address",
        ),
        ({"pfcp__tl": 3}, "pfcp.tl: unknown key"),
        ({"pfcp__on_peer_lost": "drop"}, "pfcp.on_peer_lost: must be one of release, keep"),
        ({"node_id": "bad host!"}, "node_id: must be an IPv4/IPv6 address or an FQDN"),
        ({"datapath__kind": "dpdk"}, "datapath.kind: must be one of local, vpp"),
        ({"datapath__kind": ["local"]}, "datapath.kind: must be one of local, vpp, got ['local']"),
        ({"interfaces__n3": {"address": "x"}}, "interfaces.n3.address: must be an IPv4 or IPv6"),
        (
            {"network_instances__internet": {"ue_pools": ["10.45.0.0/33"]}},
            "network_instances.internet.ue_pools[0]:",
        ),
        ({"state_dir": "relative"}, "state_dir: must be an absolute path"),
        ({"metrics": {"listen": "192.0.2.1:9000"}}, "metrics.listen: must be a loopback"),
        ({"logging": {"format": "xml"}}, "logging.format: must be one of human, json"),
    ],
)
def test_errors_name_the_key(changes, expected):
    errors = errors_of(doc(**changes))
    assert any(e.startswith(expected) for e in errors), errors


@pytest.mark.parametrize("text", [".nan", ".NaN", ".inf", "-.inf"])
def test_yaml_nan_and_infinity_timers_are_refused_with_their_key(text):
    """YAML spells them .nan and .inf: a timer of either compares false everywhere (or fires
    at once), so each timer key refuses them by name."""
    data = yaml.safe_load(f"t1: {text}\nresponse_cache_time: {text}")
    errors = errors_of(doc(pfcp__t1=data["t1"], pfcp__response_cache_time=data["t1"]))
    assert any(e.startswith("pfcp.t1: must be a finite number") for e in errors), errors
    assert any(e.startswith("pfcp.response_cache_time: must be a finite") for e in errors)


def test_all_errors_reported_at_once():
    errors = errors_of(doc(pfcp__t1=-1, pfcp__n1="x", state_dir=3))
    assert {e.split(":")[0] for e in errors} == {"pfcp.t1", "pfcp.n1", "state_dir"}


def test_allowed_peers_any_and_ipv6_endpoints():
    cfg = parse_config(doc(pfcp__allowed_peers="any", pfcp__listen=["[::1]:8805", "[::]"]))
    assert cfg.pfcp.allowed_peers is None
    assert [(e.host, e.port) for e in cfg.pfcp.listen] == [("::1", 8805), ("::", 8805)]
    assert parse_endpoint("10.0.0.1") == parse_endpoint("10.0.0.1:8805")


def test_datapath_section_keeps_other_keys():
    cfg = parse_config(doc(datapath={"kind": "vpp", "vpp": {"api_socket": "/run/vpp/api.sock"}}))
    assert cfg.datapath_kind == "vpp"
    assert str(cfg.datapath.vpp.api_socket) == "/run/vpp/api.sock"  # type: ignore[union-attr]
    errors = errors_of(doc(datapath={"kind": "vpp", "api_socket": "/run/vpp/api.sock"}))
    assert errors == ["datapath.api_socket: unknown key (known: kind, vpp)"]


def test_check_config_command(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL)
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("t1: 3", "t1: soon").replace("n1: 3", "n1: [3]"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("pfcp: [unclosed\n")
    run = [sys.executable, "-m", "pfcpd", "check-config"]
    ok = subprocess.run([*run, str(good)], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "OK" in ok.stdout
    fail = subprocess.run([*run, str(bad)], capture_output=True, text=True, timeout=30)
    assert fail.returncode == 1
    assert "pfcp.t1: must be a finite number" in fail.stderr and "pfcp.n1:" in fail.stderr
    syntax = subprocess.run([*run, str(broken)], capture_output=True, text=True, timeout=30)
    assert syntax.returncode == 1 and "YAML syntax error at line" in syntax.stderr
    missing = subprocess.run([*run, str(tmp_path / "nope.yaml")], capture_output=True, text=True)
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_the_documented_minimal_file_is_a_complete_configuration():
    """docs/pfcpd.md's minimal file: every other key takes its default, the local datapath
    with its N3 address from interfaces.n3 and the network instance's UE pool."""
    cfg = parse_config(yaml.safe_load(minimal_config_text()))
    assert cfg.datapath_kind == "local"
    assert str(cfg.interfaces["n3"].address) == "127.0.0.1"
    assert [str(p) for p in cfg.network_instances["internet"].ue_pools] == ["10.45.0.0/16"]
    assert cfg.pfcp.heartbeat_interval > 0 and cfg.pfcp.t1 > 0 and cfg.pfcp.n1 > 0


def test_associate_to_accepts_dns_names():
    cfg = parse_config(
        doc(
            pfcp__allowed_peers="any",
            pfcp__listen=["127.0.0.1", "[::1]"],
            pfcp__associate_to=["SMF.example.net", "localhost:9999", "127.0.0.1", "[::1]:1"],
        )
    )
    got = [(e.host, e.port, e.is_name) for e in cfg.pfcp.associate_to]
    assert got == [
        ("smf.example.net", 8805, True),
        ("localhost", 9999, True),
        ("127.0.0.1", 8805, False),
        ("::1", 1, False),
    ]
    # Names only where a resolver is meant to run: listen addresses stay literals.
    with pytest.raises(ValueError, match="not an IPv4 or IPv6 address"):
        parse_endpoint("localhost:8805")


def test_missing_keys_are_named_as_required_and_nothing_else_is_said_of_them():
    errors = errors_of({"pfcp": {"allowed_peers": "any", "heartbeat_interval": None}})
    assert errors == [
        "node_id: is required",
        "datapath: is required",
        "state_dir: is required",
        "pfcp.heartbeat_interval: must be a finite number greater than 0, got None",
        "interfaces: is required (at least interfaces.n3.address)",
    ]
    assert errors_of(doc(datapath={"api_socket": "/x"})) == [
        "datapath.kind: is required: one of local, vpp"
    ]


def test_the_reloads_running_copy_is_not_held_to_the_documents_cross_key_checks():
    """SIGHUP applies the new allowed_peers to the running settings, whose associate_to stays
    until a restart: the copy must not fail (the daemon logs the mismatch instead); each
    key's own check still holds."""
    cfg = parse_config(doc(pfcp__associate_to=["127.0.0.2"]))
    elsewhere = (ipaddress.ip_network("192.0.2.0/24"),)
    running = dataclasses.replace(cfg.pfcp, allowed_peers=elsewhere)
    assert running.allowed_peers == elsewhere and running.associate_to == cfg.pfcp.associate_to
    with pytest.raises(ValueError, match="must be a finite number greater than 0"):
        dataclasses.replace(cfg.pfcp, t1=math.nan)
