"""The Grafana dashboard (dashboards/upf-site.json) against a running pfcpd.

Every metric its PromQL queries name must be a family a real ``pfcpd run`` exports on
/metrics, unless the panel is marked VPP-only (its description starts with ``VPP-only:``) and
the name is one VPP's prom exporter writes (stat segment paths: ``_if_...``, ``_err_...``,
``_sys_...``). The queries are parsed, not grepped: functions, aggregations, label lists,
label matchers, strings, ranges and Grafana variables are set aside, and histogram series
(``_bucket``/``_sum``/``_count``) are mapped to their family.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "node"))

from node_harness import Pfcpd

sys.path.insert(0, str(Path(__file__).resolve().parent / "daemon_sessions"))

from sessions_harness import session_overrides

from pfcpd.smfsim import rules
from pfcpd.smfsim.client import SmfClient

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "upf-site.json"
VPP_MARK = "VPP-only:"
# Names VPP's prom plugin writes: a stat segment path with non-alphanumerics made '_'.
VPP_NAME = re.compile(r"^_(if|err|sys|buffer_pools|mem|nodes|interfaces)_")

KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
AGGREGATIONS = {
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
}
TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
      |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
      |(?P<number>(?:0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)[a-zA-Z]*)
      |(?P<var>\$\{?[A-Za-z0-9_]+\}?)
      |(?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){}\[\],:@])
      |(?P<space>\s+)""",
    re.VERBOSE,
)


class PromQLError(ValueError):
    pass


def tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        match = TOKEN.match(expr, pos)
        if match is None:
            raise PromQLError(f"cannot read {expr[pos : pos + 20]!r} in {expr!r}")
        pos = match.end()
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            out.append((kind, match.group()))
    return out


def _unquote(text: str) -> str:
    return text[1:-1]


def metric_selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """(metric name, label matchers) of every series selector in ``expr``. A selector without
    a name gives its ``__name__`` matcher as ``{__name__=~"re"}`` in the name's place."""
    toks = tokens(expr)
    found: list[tuple[str, dict[str, str]]] = []
    i = 0
    depth_bracket = 0

    def matchers(start: int) -> tuple[dict[str, str], int]:
        """Parse ``{label op "value", ...}`` from toks[start] == '{'; return (dict, next)."""
        got: dict[str, str] = {}
        j = start + 1
        while toks[j][1] != "}":
            (k1, label), (k2, op), (k3, value) = toks[j], toks[j + 1], toks[j + 2]
            if k1 != "ident" or k2 != "op" or k3 != "string":
                raise PromQLError(f"bad label matcher near {label!r} in {expr!r}")
            got[label] = op + _unquote(value)
            j += 3
            if toks[j][1] == ",":
                j += 1
        return got, j + 1

    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else ""
        if text == "[":
            depth_bracket += 1
        elif text == "]":
            depth_bracket -= 1
        if depth_bracket:  # a range or subquery step: durations and $__rate_interval
            i += 1
            continue
        if kind == "ident" and text in LABEL_LIST_KEYWORDS:
            if nxt != "(":
                raise PromQLError(f"{text} without a label list in {expr!r}")
            i = next(j for j in range(i, len(toks)) if toks[j][1] == ")") + 1
            continue
        if kind == "ident" and (nxt == "(" or (text in AGGREGATIONS and nxt in ("by", "without"))):
            i += 1  # a function or an aggregation
            continue
        if kind == "ident" and text.lower() in KEYWORDS:
            i += 1
            continue
        if kind == "ident":
            labels: dict[str, str] = {}
            i += 1
            if nxt == "{":
                labels, i = matchers(i)
            found.append((text, labels))
            continue
        if text == "{":  # a selector by matchers only
            labels, i = matchers(i)
            name = labels.pop("__name__", None)
            if name is None:
                raise PromQLError(f"a selector without a metric name in {expr!r}")
            found.append((f"{{__name__{name}}}", labels))
            continue
        i += 1
    return found


def metric_names(expr: str) -> set[str]:
    return {name for name, _ in metric_selectors(expr)}


def grouping_labels(expr: str) -> set[str]:
    """Labels named in by/without/on/ignoring/group_left/group_right lists."""
    toks = tokens(expr)
    out: set[str] = set()
    for i, (kind, text) in enumerate(toks):
        if kind == "ident" and text in LABEL_LIST_KEYWORDS:
            j = i + 2
            while toks[j][1] != ")":
                if toks[j][0] == "ident":
                    out.add(toks[j][1])
                j += 1
    return out


def aggregates(expr: str) -> bool:
    toks = tokens(expr)
    return any(
        kind == "ident" and text in AGGREGATIONS and toks[i + 1][1] in ("(", "by", "without")
        for i, (kind, text) in enumerate(toks[:-1])
    )


LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? \S+$")
SAMPLE_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="(?:[^"\\]|\\.)*"')
TARGET_LABELS = {"job", "instance"}  # added by Prometheus to every scraped series


# -- the dashboard ---------------------------------------------------------------------------


def load_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold their panels


def query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in all_panels(dashboard) if p["type"] != "row"]


def is_vpp_only(panel: dict[str, Any]) -> bool:
    return str(panel.get("description", "")).startswith(VPP_MARK)


# -- what pfcpd exports -----------------------------------------------------------------------


def exported_families(text: str) -> dict[str, str]:
    """family -> type, from the exposition's TYPE lines (they list families without samples)."""
    families = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            families[name] = kind.strip()
    return families


def family_of(name: str, families: dict[str, str]) -> str | None:
    """The exported family a query's series name belongs to, or None."""
    if name in families:
        return name
    for suffix, kinds in (
        ("_bucket", {"histogram"}),
        ("_sum", {"histogram", "summary"}),
        ("_count", {"histogram", "summary"}),
        ("_total", {"counter"}),  # a family named without _total (prometheus_client's style)
    ):
        base = name.removesuffix(suffix)
        if base != name and families.get(base) in kinds:
            return base
    return None


def sample_labels(text: str, families: dict[str, str]) -> dict[str, set[str]]:
    """family -> label names on its samples (only the families that have samples)."""
    out: dict[str, set[str]] = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match is None:
            continue
        family = family_of(match.group(1), families)
        if family is not None:
            out.setdefault(family, set()).update(SAMPLE_LABEL.findall(match.group(2) or ""))
    return out


def check_labels(
    dashboard: dict[str, Any], families: dict[str, str], labels: dict[str, set[str]]
) -> tuple[list[str], int]:
    """Problems with the labels pfcpd's panels use (matchers, by/on lists, legends), judged
    on the families that have samples; and how many uses could be judged."""
    problems: list[str] = []
    judged = 0
    for panel in query_panels(dashboard):
        if is_vpp_only(panel):
            continue
        for target in panel["targets"]:
            expr, where = target["expr"], f"{panel['title']!r} {target['refId']}"
            selectors = [(family_of(n, families), m) for n, m in metric_selectors(expr)]
            known: set[str] = set(TARGET_LABELS)
            all_sampled = True
            for family, matchers in selectors:
                if family not in labels:
                    all_sampled = False
                    continue
                known |= labels[family]
                judged += 1
                for label in sorted(matchers.keys() - labels[family] - TARGET_LABELS):
                    problems.append(f"{where}: {family} has no label {label}")
            grouping = grouping_labels(expr)
            if all_sampled:
                judged += 1
                for label in sorted(grouping - known):
                    problems.append(f"{where}: no series in it has label {label}")
            legend = set(LEGEND_LABEL.findall(target.get("legendFormat", "")))
            if aggregates(expr):
                judged += 1
                for label in sorted(legend - grouping - TARGET_LABELS):
                    problems.append(f"{where}: legend {{{{{label}}}}} is aggregated away")
            elif all_sampled:
                for label in sorted(legend - known):
                    problems.append(f"{where}: legend {{{{{label}}}}} names no label")
    return problems, judged


def check_dashboard(dashboard: dict[str, Any], families: dict[str, str]) -> list[str]:
    """Problems: a pfcpd panel naming a metric pfcpd does not export, a VPP-only panel naming
    something that is not a VPP exporter name (or naming only pfcpd's metrics)."""
    problems = []
    for panel in query_panels(dashboard):
        names = set().union(*(metric_names(t["expr"]) for t in panel["targets"]))
        if is_vpp_only(panel):
            for name in sorted(names):
                bare = name.removeprefix("{__name__=~").removeprefix("{__name__=")
                if not VPP_NAME.match(bare):
                    problems.append(f"{panel['title']!r} (VPP-only): {name} is no VPP name")
            continue
        for name in sorted(names):
            if family_of(name, families) is None:
                problems.append(f"{panel['title']!r}: pfcpd exports no {name}")
    return problems


# -- tests ------------------------------------------------------------------------------------


PARSER_CASES = [
    ("up", {"up"}),
    ('sum by (le, type) (rate(a_bucket{job=~"$job",x!="}"}[$__rate_interval]))', {"a_bucket"}),
    ("histogram_quantile(0.99, sum(rate(b_bucket[5m])) by (le))", {"b_bucket"}),
    ("(sum(increase(c_total[$__range])) or vector(0)) + on (instance) d", {"c_total", "d"}),
    (
        'e * on (i) group_left (name) label_replace(f{a=\'1\'}, "x", "$1", "i", "(.*)")',
        {"e", "f"},
    ),
    (
        'rate(label_replace({__name__=~"_err_.*"}, "r", "$1", "__name__", "(.*)")[5m:1m])',
        {"{__name__=~_err_.*}"},
    ),
    ("topk(5, g offset 1h) > bool 0", {"g"}),
    ('count_values without (instance) ("v", h)', {"h"}),
]


@pytest.mark.parametrize(("expr", "names"), PARSER_CASES)
def test_the_query_parser_finds_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@pytest.mark.parametrize(("expr", "names"), PARSER_CASES)
def test_the_query_parser_agrees_with_prometheus(expr: str, names: set[str]) -> None:
    assert sorted(metric_selectors(expr), key=repr) == sorted(oracle_selectors(expr), key=repr)


def test_the_query_parser_refuses_what_it_cannot_read() -> None:
    with pytest.raises(PromQLError):
        metric_names('sum(x{job="a" "b"})')
    with pytest.raises(PromQLError):
        metric_names("x # a comment")


GRAFANA_RANGES = {"$__rate_interval": "1m", "$__range": "6h", "$__interval": "15s"}


def oracle_selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """The series selectors of ``expr`` as the Prometheus parser (promql-parser: Rust
    bindings of the promql-parser crate) reads them, in the same form as metric_selectors."""
    promql_parser = pytest.importorskip(
        "promql_parser", reason="promql-parser (PyPI) is not installed: no PromQL oracle"
    )
    ops = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}
    for variable, value in GRAFANA_RANGES.items():
        expr = expr.replace(variable, value)
    found: list[tuple[str, dict[str, str]]] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            assert not node.matchers.or_matchers, expr
            labels = {
                m.name: ops[str(m.op).rsplit(".", 1)[-1]] + m.value for m in node.matchers.matchers
            }
            name = node.name
            if name is None:
                name = f"{{__name__{labels.pop('__name__')}}}"
            else:
                labels.pop("__name__", None)
            found.append((name, labels))
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def test_the_dashboards_queries_parse_as_prometheus_parses_them() -> None:
    """Every query is valid PromQL (Grafana's range variables put in), and the selectors the
    Prometheus parser finds are the ones metric_selectors finds."""
    exprs = [t["expr"] for p in query_panels(load_dashboard()) for t in p["targets"]]
    for expr in exprs:
        mine = sorted(metric_selectors(expr), key=repr)
        assert mine == sorted(oracle_selectors(expr), key=repr), expr


def test_the_dashboard_is_well_formed() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"job", "instance"} <= variables.keys()
    ids = [p["id"] for p in all_panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in all_panels(dashboard):
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
    panels = query_panels(dashboard)
    assert panels
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel
        assert panel["targets"], f"{panel['title']!r} has no targets"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert metric_names(target["expr"]), f"{panel['title']!r}: {target['expr']}"
            if not is_vpp_only(panel):
                # pfcpd's panels follow the job/instance selection
                for name, labels in metric_selectors(target["expr"]):
                    assert labels.get("job") == "=~$job", (panel["title"], name)
                    assert labels.get("instance") == "=~$instance", (panel["title"], name)
    vpp = [p for p in panels if is_vpp_only(p)]
    assert vpp, "no VPP-only panel"
    for panel in vpp:
        assert "VPP datapath" in panel["description"], panel["title"]


def test_every_metric_the_dashboard_queries_is_exported_by_pfcpd(tmp_path: Path) -> None:
    # As root, a network instance on a TUN device of its own and one session, so the session
    # families have samples too; otherwise an association only (the TYPE lines list every
    # family either way, samples or not).
    as_root = os.geteuid() == 0
    daemon = Pfcpd(tmp_path, session_overrides(pool="198.18.250.0/30") if as_root else None)
    daemon.start()
    try:
        with SmfClient(daemon.addr) as cp:  # N4 message families get samples
            cp.associate()
            if as_root:
                cp.establish(rules.session_rules())
            text = daemon.metrics_text()
    finally:
        rc = daemon.stop()
    assert rc == 0, daemon.log()
    families = exported_families(text)
    assert "pfcpd_associations" in families
    assert re.search(r"^pfcpd_associations 1\.0$", text, re.MULTILINE), text
    dashboard = load_dashboard()
    assert check_dashboard(dashboard, families) == []
    labels = sample_labels(text, families)
    assert labels["pfcpd_messages_received_total"] == {"type", "cause"}
    assert labels["pfcpd_peer_messages_received_total"] == {"peer", "type", "cause"}
    assert labels["pfcpd_datapath_packets_dropped_total"] == {"reason"}
    problems, judged = check_labels(dashboard, families, labels)
    assert problems == []
    assert judged >= 60, judged  # not vacuous: most uses have samples to judge them by

    # What the dashboard relies on in pfcpd, as a floor: the brief's panels are all there.
    pfcpd_names = {
        family_of(name, families)
        for panel in query_panels(dashboard)
        if not is_vpp_only(panel)
        for target in panel["targets"]
        for name in metric_names(target["expr"])
    }
    for family in (
        "pfcpd_messages_received_total",
        "pfcpd_messages_sent_total",
        "pfcpd_associations",
        "pfcpd_request_latency_seconds",
        "pfcpd_sessions_active",
        "pfcpd_sessions_established_total",
        "pfcpd_sessions_deleted_total",
        "pfcpd_session_reports_sent_total",
        "pfcpd_allocations_in_use",
        "pfcpd_session_journal_failures_total",
        "pfcpd_session_engine_errors_total",
        "pfcpd_peer_messages_received_total",
        "pfcpd_peer_messages_sent_total",
        "pfcpd_datapath_packets_received_total",
        "pfcpd_datapath_packets_dropped_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "python_gc_collections_total",
    ):
        assert family in pfcpd_names, family

    # The check fails when a query names a metric pfcpd does not export, or when a VPP-only
    # panel names something that is no VPP exporter name.
    broken = json.loads(json.dumps(dashboard))
    panel = query_panels(broken)[0]
    panel["targets"][0]["expr"] = 'sum(pfcpd_no_such_metric{job=~"$job",instance=~"$instance"})'
    assert check_dashboard(broken, families) == [
        f"{panel['title']!r}: pfcpd exports no pfcpd_no_such_metric"
    ]
    # ... and a label pfcpd's series do not have, or a legend label aggregated away.
    broken = json.loads(json.dumps(dashboard))
    panel = next(p for p in query_panels(broken) if p["title"] == "Messages received by type")
    target = panel["targets"][0]
    target["expr"] = target["expr"].replace("(instance, type)", "(instance, peer)")
    assert check_labels(broken, families, labels)[0] == [
        f"{panel['title']!r} A: no series in it has label peer",
        f"{panel['title']!r} A: legend {{{{type}}}} is aggregated away",
    ]
    broken = json.loads(json.dumps(dashboard))
    panel = next(p for p in query_panels(broken) if is_vpp_only(p))
    panel["targets"][0]["expr"] = "rate(pfcpd_sessions_active[5m])"
    assert check_dashboard(broken, families) == [
        f"{panel['title']!r} (VPP-only): pfcpd_sessions_active is no VPP name"
    ]
