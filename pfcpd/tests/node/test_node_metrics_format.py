"""pfcpd's metric handles on prometheus_client: what they export, read back by the library's
parser (the text format 0.0.4) and by the OpenMetrics parser."""

from __future__ import annotations

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from pfcpd.metrics import (
    CONTENT_TYPE,
    Counter,
    Gauge,
    Histogram,
    LabelledCounters,
    LabelledGauge,
    ReadCounter,
    Registry,
)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value, every family of a text exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counters_gauges_histograms_render_in_exposition_format():
    reg = Registry()
    c = reg.add(Counter("x_total", "things", ("type", "cause")))
    reg.add(Counter("plain_total", "no labels"))
    reg.add(Gauge("up", "gauge", lambda: 3))
    h = reg.add(Histogram("lat_seconds", "latency", (0.1, 1.0), ("type",)))
    c.inc("a", 'we"ird\n')
    c.inc("a", 'we"ird\n', amount=2)
    h.observe(0.1, "hb")
    h.observe(0.5, "hb")
    h.observe(7, "hb")
    text = reg.render()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert "# TYPE x_total counter" in lines
    assert 'x_total{cause="we\\"ird\\n",type="a"} 3.0' in lines
    assert "plain_total 0.0" in lines
    assert not [line for line in lines if "_created" in line]  # no *_created series
    got = samples(text)
    assert got[("x_total", (("cause", 'we"ird\n'), ("type", "a")))] == 3
    assert got[("up", ())] == 3
    assert got[("lat_seconds_bucket", (("le", "0.1"), ("type", "hb")))] == 1  # le inclusive
    assert got[("lat_seconds_bucket", (("le", "1.0"), ("type", "hb")))] == 2
    assert got[("lat_seconds_bucket", (("le", "+Inf"), ("type", "hb")))] == 3
    assert got[("lat_seconds_count", (("type", "hb"),))] == 3
    assert got[("lat_seconds_sum", (("type", "hb"),))] == pytest.approx(7.6)
    # read back in label order, as the node's tests do
    assert c.get("a", 'we"ird\n') == 3 and c.get("b", "x") == 0
    assert c.values == {("a", 'we"ird\n'): 3}
    assert h.count("hb") == 3 and h.count("other") == 0


def test_a_histogram_buckets_a_value_on_its_bound_and_below():
    reg = Registry()
    h = reg.add(Histogram("b_seconds", "latency", (0.001, 0.01)))
    for value in (0.0005, 0.001, 0.002, 0.5):
        h.observe(value)
    got = samples(reg.render())
    assert got[("b_seconds_bucket", (("le", "0.001"),))] == 2
    assert got[("b_seconds_bucket", (("le", "0.01"),))] == 3
    assert got[("b_seconds_bucket", (("le", "+Inf"),))] == 4
    assert got[("b_seconds_count", ())] == 4 and h.count() == 4


def test_a_histogram_without_labels_renders_zeros_before_its_first_observation():
    """Its one series exists from the start (a scrape before the first flush sees 0, not
    nothing), and is the same series the observations then go to."""
    reg = Registry()
    h = reg.add(Histogram("flush_seconds", "flushes", (0.001, 0.01)))
    got = samples(reg.render())
    assert got[("flush_seconds_count", ())] == 0
    assert got[("flush_seconds_bucket", (("le", "0.001"),))] == 0
    h.observe(0.005)
    got = samples(reg.render())
    assert got[("flush_seconds_count", ())] == 1
    assert got[("flush_seconds_bucket", (("le", "0.001"),))] == 0
    assert got[("flush_seconds_bucket", (("le", "0.01"),))] == 1
    assert h.count() == 1


def test_help_text_escapes_only_backslash_and_newline():
    reg = Registry()
    reg.add(Counter("q_total", 'requests over "rate_limit"\\per peer\nsecond line'))
    [help_line] = [line for line in reg.render().splitlines() if line.startswith("# HELP")]
    assert help_line == '# HELP q_total requests over "rate_limit"\\\\per peer\\nsecond line'


def test_counts_kept_elsewhere_are_read_when_collected():
    counts = {"n": 1.0, "by": {("a", "x"): 2.0}, "g": {"p": 5.0}}
    reg = Registry()
    reg.add(ReadCounter("r_total", "read", lambda: counts["n"]))  # type: ignore[arg-type,return-value]
    reg.add(LabelledCounters("l_total", "labelled", ("k", "v"), lambda: counts["by"]))  # type: ignore[arg-type,return-value]
    reg.add(LabelledGauge("g", "gauges", "pool", lambda: counts["g"]))  # type: ignore[arg-type,return-value]
    counts["n"] = 4.0
    got = samples(reg.render())
    assert got[("r_total", ())] == 4
    assert got[("l_total", (("k", "a"), ("v", "x")))] == 2
    assert got[("g", (("pool", "p"),))] == 5


def test_a_name_registered_twice_is_refused():
    reg = Registry()
    reg.add(Counter("dup_total", "one"))
    with pytest.raises(ValueError, match="Duplicated"):
        reg.add(ReadCounter("dup_total", "two", lambda: 0.0))


def test_the_exposition_follows_the_scrape_accept_header():
    reg = Registry()
    reg.add(Counter("z_total", "things", ("type",))).inc("a")
    body, content_type = reg.exposition("")
    assert content_type == CONTENT_TYPE
    assert samples(body.decode())[("z_total", (("type", "a"),))] == 1
    # what Prometheus sends: OpenMetrics preferred
    accept = (
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
        "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    )
    body, content_type = reg.exposition(accept)
    assert content_type.startswith("application/openmetrics-text")
    [family] = list(openmetrics_families(body.decode()))
    assert (family.name, family.type) == ("z", "counter")
    assert [(s.name, s.labels, s.value) for s in family.samples] == [
        ("z_total", {"type": "a"}, 1.0)
    ]


def test_process_metrics_come_from_the_library():
    reg = Registry()
    reg.add_process_metrics()
    got = samples(reg.render())
    names = {name for name, _ in got}
    assert {"process_resident_memory_bytes", "process_start_time_seconds", "python_info"} <= names
    assert "python_gc_collections_total" in names
    assert got[("process_resident_memory_bytes", ())] > 1_000_000


def test_process_metrics_without_proc_stat(tmp_path):
    """Under systemd's ProcSubset=pid (pfcpd's unit) /proc/stat is hidden, /proc/self is not:
    the process metrics are still there, the start time from the boot clock."""
    import os
    import time

    from pfcpd.metrics import _ProcessCollector

    (tmp_path / "self").symlink_to("/proc/self")
    assert not (tmp_path / "stat").exists()
    collector = _ProcessCollector(proc=str(tmp_path), registry=None)
    got = {family.name: family.samples[0].value for family in collector.collect()}
    assert got["process_resident_memory_bytes"] > 1_000_000
    assert got["process_open_fds"] == len(os.listdir("/proc/self/fd"))
    # the start time as the library gives it with /proc/stat, within the clocks' rounding
    reference = _ProcessCollector(registry=None)
    real = {family.name: family.samples[0].value for family in reference.collect()}
    assert abs(got["process_start_time_seconds"] - real["process_start_time_seconds"]) < 2
    assert got["process_start_time_seconds"] <= time.time()


def test_packet_loop_counts_are_exported_as_counters():
    """The local datapath's packet loop keeps its counts in its thread; the metrics read them
    at each render (no copy that could go stale)."""
    from pfcpd.daemon.packet_loop_metrics import register_packet_loop
    from pfcpd.datapath.local.io import PacketLoop

    class Loop:  # the counting part of a PacketLoop, without its sockets and TUN devices
        errors = 0
        duplicates_sent = 0
        counters = PacketLoop.counters

    loop = Loop()
    registry = Registry()
    register_packet_loop(registry, loop.counters)
    loop.errors, loop.duplicates_sent = 3, 5
    text = registry.render()
    assert "# TYPE pfcpd_packet_loop_errors_total counter" in text
    assert "\npfcpd_packet_loop_errors_total 3.0\n" in text
    assert "\npfcpd_packet_loop_duplicates_sent_total 5.0\n" in text
    loop.errors += 1
    assert "\npfcpd_packet_loop_errors_total 4.0\n" in registry.render()


def test_the_cores_counts_are_exported_per_reason():
    """Received per direction, dropped and malformed per reason of the C core (libupfcore.so
    of the local datapath), every reason listed from 0."""
    from pfcpd.daemon.packet_loop_metrics import register_core_counters
    from pfcpd.datapath.interface import SessionCounters
    from pfcpd.datapath.local import corelib

    try:
        core = corelib.load(None)
    except corelib.CoreLibNotFound as exc:
        pytest.skip(f"libupfcore.so not found: {exc}")
    now = SessionCounters(rx_ul=7, rx_dl=2, drops={"no matching PDR": 3})
    registry = Registry()
    register_core_counters(registry, lambda: now, core.drop_names, core.malformed_names)
    got = samples(registry.render())
    received = "pfcpd_datapath_packets_received_total"
    assert got[(received, (("direction", "uplink"),))] == 7
    assert got[(received, (("direction", "downlink"),))] == 2
    dropped = {
        dict(labels)["reason"]: value
        for (name, labels), value in got.items()
        if name == "pfcpd_datapath_packets_dropped_total"
    }
    assert dropped["no matching PDR"] == 3
    assert set(dropped) == set(core.drop_names[1:])  # every reason but "none"
    assert {"malformed packet", "no session for TEID / UE address"} <= set(dropped)
    malformed = [n for n, _ in got if n == "pfcpd_datapath_packets_malformed_total"]
    assert len(malformed) == len(core.malformed_names) - 1
