"""The Prometheus text exposition pfcpd writes itself."""

from __future__ import annotations

from pfcpd.metrics import Counter, Gauge, Histogram, Registry


def test_counters_gauges_histograms_render_in_exposition_format():
    reg = Registry()
    c = reg.add(Counter("x_total", "things", ("type", "cause")))
    reg.add(Counter("plain_total", "no labels"))
    reg.add(Gauge("up", "gauge", lambda: 3))
    h = reg.add(Histogram("lat_seconds", "latency", (0.1, 1.0), ("type",)))
    c.inc("a", 'we"ird\n')
    h.observe(0.1, "hb")
    h.observe(0.5, "hb")
    h.observe(7, "hb")
    text = reg.render()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert "# TYPE x_total counter" in lines
    assert 'x_total{type="a",cause="we\\"ird\\n"} 1' in lines
    assert "plain_total 0" in lines
    assert "up 3" in lines
    assert 'lat_seconds_bucket{type="hb",le="0.1"} 1' in lines  # le is inclusive
    assert 'lat_seconds_bucket{type="hb",le="1"} 2' in lines
    assert 'lat_seconds_bucket{type="hb",le="+Inf"} 3' in lines
    assert 'lat_seconds_count{type="hb"} 3' in lines
    assert 'lat_seconds_sum{type="hb"} 7.6' in lines


def test_help_text_escapes_only_backslash_and_newline():
    reg = Registry()
    reg.add(Counter("q_total", 'requests over "rate_limit"\\per peer\nsecond line'))
    [help_line] = [line for line in reg.render().splitlines() if line.startswith("# HELP")]
    assert help_line == '# HELP q_total requests over "rate_limit"\\\\per peer\\nsecond line'


def test_packet_loop_counts_are_exported_as_counters():
    """The local datapath's packet loop keeps its counts in its thread; the metrics read them
    at each render (no copy that could go stale)."""
    from pfcpd.daemon.packet_loop_metrics import register_packet_loop
    from pfcpd.datapath.local.io import PacketLoop
    from pfcpd.metrics import Registry

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
    assert "\npfcpd_packet_loop_errors_total 3\n" in text
    assert "\npfcpd_packet_loop_duplicates_sent_total 5\n" in text
    loop.errors += 1
    assert "\npfcpd_packet_loop_errors_total 4\n" in registry.render()
