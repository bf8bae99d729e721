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
