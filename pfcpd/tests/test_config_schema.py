"""The configuration's published JSON Schema: current, equal to docs/pfcpd.md's key table,
and meaning what pfcpd checks (jsonschema, a validator we did not write, judges documents
with it)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import jsonschema
import pytest
import yaml
from docs_config import DOCS

from pfcpd.check_config_command import schema_text
from pfcpd.config import ConfigError, config_schema, parse_config

SCHEMA_FILE = DOCS / "pfcpd-config.schema.json"
REQUIRED = object()
NO_DEFAULT = object()


def test_the_committed_schema_is_what_the_models_generate():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "docs/pfcpd-config.schema.json is out of date: run `make config-schema`"
    )


def test_check_config_prints_the_schema():
    done = subprocess.run(
        [sys.executable, "-m", "pfcpd", "check-config", "--schema"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == config_schema()
    jsonschema.Draft202012Validator.check_schema(json.loads(done.stdout))


def schema_keys(schema: dict[str, Any]) -> dict[str, object]:
    """Dotted key -> its default (REQUIRED, NO_DEFAULT) of every leaf key of ``schema``;
    a mapping of names (``interfaces``) gives ``interfaces.<name>...``."""
    defs = schema["$defs"]
    keys: dict[str, object] = {}

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[1]]
        return node

    def walk(node: dict[str, Any], path: str, default: object) -> None:
        node = resolve(node)
        if "anyOf" in node and "properties" not in node:  # a section that may be null
            node = next((resolve(m) for m in node["anyOf"] if m != {"type": "null"}), node)
            if "anyOf" in node:
                keys[path] = default  # a value of several types (allowed_peers)
                return
        members = [resolve(m) for m in node.get("oneOf", [])]
        if members:  # one section per datapath kind: the union of their keys
            for member in members:
                walk(member, path, default)
            return
        if "properties" in node:
            required = set(node.get("required", ()))
            for name, sub in node["properties"].items():
                sub_default = sub.get("default", REQUIRED if name in required else NO_DEFAULT)
                walk(sub, f"{path}.{name}" if path else name, sub_default)
            return
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}.<name>", NO_DEFAULT)
            return
        keys[path] = default

    walk(schema, "", REQUIRED)
    return keys


def table_keys() -> dict[str, str]:
    """Key -> default cell of docs/pfcpd.md's configuration key table."""
    text = (DOCS / "pfcpd.md").read_text(encoding="utf-8")
    section = text[text.index("## Configuration\n") : text.index("\n## Behaviour")]
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+?) \|", section, re.M)
    assert rows, "no key table in docs/pfcpd.md's Configuration section"
    keys = dict(rows)
    assert len(keys) == len(rows), "a key is in the table twice"
    return keys


def test_the_docs_key_table_is_the_schema():
    in_schema, in_table = schema_keys(config_schema()), table_keys()
    assert sorted(set(in_schema) - set(in_table)) == [], "keys missing from docs/pfcpd.md"
    assert sorted(set(in_table) - set(in_schema)) == [], "keys docs/pfcpd.md has, pfcpd not"
    for key, default in in_schema.items():
        cell = in_table[key]
        if default is REQUIRED:
            assert cell == "required", key
        elif default is NO_DEFAULT:
            assert cell != "required", key
        else:
            assert cell.startswith("`") and cell.endswith("`"), (key, cell)
            assert yaml.safe_load(cell.strip("`")) == default, (key, cell, default)


def test_the_schema_walk_sees_every_kind_of_key():
    """The table test is only as good as its walk: it finds leaves, maps and kinds."""
    keys = schema_keys(config_schema())
    assert keys["pfcp.t1"] == 3.0 and keys["node_id"] is REQUIRED
    assert keys["pfcp.rate_limit.burst"] == 2000 and keys["metrics.listen"] == "127.0.0.1:9805"
    assert keys["interfaces.<name>.address"] is REQUIRED
    assert keys["datapath.n6_tun.<name>"] is NO_DEFAULT and keys["datapath.kind"] is REQUIRED


def docs_example() -> dict[str, Any]:
    text = (DOCS / "pfcpd.md").read_text(encoding="utf-8")
    section = text[text.index("## Configuration\n") :]
    return yaml.safe_load(section[section.index("```yaml\n") + 8 : section.index("```\n", 8)])


def test_the_docs_example_is_valid_for_pfcpd_and_for_the_schema():
    example = docs_example()
    assert parse_config(example).node_id == "127.0.0.1"
    jsonschema.validate(example, config_schema())


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"pfcp": {"allowed_peers": "any", "tl": 3}}, "pfcp.tl"),
        ({"pfcp": {"allowed_peers": [], "t1": 3}}, "pfcp.allowed_peers"),
        ({"pfcp": {"allowed_peers": "any", "t1": "soon"}}, "pfcp.t1"),
        ({"pfcp": {"allowed_peers": "any", "n1": 0}}, "pfcp.n1"),
        ({"pfcp": {"allowed_peers": "any", "on_peer_lost": "drop"}}, "pfcp.on_peer_lost"),
        ({"datapath": {"kind": "dpdk"}}, "datapath.kind"),
        ({"datapath": {"kind": "local", "color": "blue"}}, "datapath.color"),
        ({"datapath": {"kind": "local", "n6_tun": {"internet": "x" * 16}}}, "datapath.n6_tun"),
        ({"state_dir": "relative"}, "state_dir"),
        ({"logging": {"level": "loud"}}, "logging.level"),
        ({"node_id": None}, "node_id"),
    ],
)
def test_what_pfcpd_refuses_the_schema_refuses(change, key):
    """The schema is a contract for editors and tools: a document it accepts that pfcpd
    refuses would be a lie (for these checks; DNS names, CIDR host bits and the checks
    between keys are pfcpd's alone)."""
    document = {**docs_example(), **change}
    with pytest.raises(ConfigError) as info:
        parse_config(document)
    assert any(e.startswith(key) for e in info.value.errors), info.value.errors
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, config_schema())


@pytest.mark.parametrize(
    "change",
    [
        {"network_instances": None},
        {"datapath": {"kind": "vpp", "vpp": None}},
        {
            "datapath": {
                "kind": "vpp",
                "vpp": {
                    "api_socket": "/run/vpp/api.sock",
                    "n3_interfaces": ["GigabitEthernet0/8/0"],
                    "network_instances": {"internet": {"ip4_table_id": 10}},
                },
            }
        },
        {"metrics": {"listen": None}, "pfcp": {"allowed_peers": "any"}},
    ],
)
def test_what_pfcpd_accepts_the_schema_accepts(change):
    document = {**docs_example(), **change}
    parse_config(document)
    jsonschema.validate(document, config_schema())
