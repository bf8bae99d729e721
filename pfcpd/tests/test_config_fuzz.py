"""Any YAML document gives a Config or a ConfigError whose lines each name a key: never
another exception (a crash in check-config or at start is a bug)."""

from __future__ import annotations

import copy
import re

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfcpd.config import Config, ConfigError, parse_config

MINIMAL = yaml.safe_load(
    """
node_id: 127.0.0.1
pfcp:
  listen: ["127.0.0.1:8805"]
  allowed_peers: ["127.0.0.0/8"]
  associate_to: ["127.0.0.2"]
  rate_limit: {burst: 10}
datapath:
  kind: local
  n6_tun: {internet: upf-internet}
interfaces:
  n3: {address: 127.0.0.1}
network_instances:
  internet: {ue_pools: ["10.45.0.0/16"]}
state_dir: /var/lib/pfcpd
metrics: {listen: "127.0.0.1:9805"}
"""
)
NAMES = [
    *MINIMAL,
    *MINIMAL["pfcp"],
    "t1",
    "n1",
    "kind",
    "vpp",
    "n3",
    "address",
    "ue_pools",
    "n3_interfaces",
    "network_instances",
    "api_socket",
]
# Keys as people write them (a key holding ": " would make its error line ambiguous).
KEY_TEXT = st.text(
    st.characters(exclude_characters=": \t\r\n", codec="utf-8"), min_size=1, max_size=5
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["any", "local", "vpp", "127.0.0.1", "::1", "10.0.0.0/8", "/abs", "x:1"]),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(NAMES), KEY_TEXT, st.integers(0, 3)),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
LINE = re.compile(r"^(\(document\)|[^\s:][^:]*): \S")


def paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, sub in node.items():
            out += paths(sub, (*prefix, key))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_document_is_a_config_or_errors_that_name_keys(data):
    document = copy.deepcopy(MINIMAL)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths(document)))
        value = data.draw(values)
        if not path:
            document = value
            break
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    try:
        assert isinstance(parse_config(document), Config)
    except ConfigError as exc:
        assert exc.errors, document
        for line in exc.errors:
            assert LINE.match(line), (line, document)
            assert "Input should" not in line, (line, document)  # pydantic's own wording


def test_a_key_with_a_control_character_is_named_quoted():
    """Found by the test above: an unknown key "\\x1f" (white space to Python) began its
    error line invisibly."""
    document = copy.deepcopy(MINIMAL)
    document["pfcp"]["\x1f"] = 1
    try:
        parse_config(document)
    except ConfigError as exc:
        (line,) = exc.errors
        assert line.startswith('pfcp."\\u001f": '), line
        assert LINE.match(line), line
    else:
        raise AssertionError("an unknown key was accepted")
