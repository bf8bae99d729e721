"""The vpp datapath's usage refresh against a real VPP with the upf plugin (a private
instance: vpp_instance): a round that times out is followed by the next; one refresh loop
after VPP restarts; sessions created since the last refresh, and URRs a modification adds,
are read without a call to VPP. Skipped, naming what is missing, without VPP or the plugin."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import pytest
from test_vpp_live import program, settings
from vpp_instance import VppInstance

from pfcpd.datapath.interface import Urr
from pfcpd.datapath.vpp import datapath
from pfcpd.datapath.vpp.datapath import VppDatapath, _RefreshPlan

PERIOD = 0.05  # usage_refresh, s


def until(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def refresh_loops(dp: VppDatapath) -> int:
    """The usage refresh loops running in the client's thread."""
    tasks = list(dp.client._tasks)
    return sum(1 for t in tasks if not t.done() and "_refresh_usage" in repr(t.get_coro()))


def open_quick(vpp: VppInstance) -> VppDatapath:
    dp = VppDatapath(dataclasses.replace(settings(vpp), usage_refresh=PERIOD), pipelined=True)
    dp.start()
    return dp


def test_a_round_vpp_does_not_answer_in_time_is_followed_by_the_next(
    vpp: VppInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    dp = open_quick(vpp)
    try:
        dp.install(0x11, program(0x11))
        dp.settle()
        assert until(lambda: 0x11 in dp._usage and dp.usage_cached())
        settings, timeout = dp.settings, dp.client.call_timeout
        # (the refresh's calls time out: the usage dump's time limit is call_timeout too)
        monkeypatch.setattr(datapath, "DUMP_PER_SESSION", 0.0)
        dp.settings = dataclasses.replace(settings, call_timeout=1e-6)
        dp.client.call_timeout = 1e-6
        assert until(lambda: refresh_loops(dp) == 0 or dp.refresh_failures >= 2)
        dp.settings, dp.client.call_timeout = settings, timeout
        dp._usage.pop(0x11)  # (a round that works caches it again)
        assert until(lambda: 0x11 in dp._usage), "no round after the failed ones"
        assert refresh_loops(dp) == 1 and dp.refresh_failures >= 2
    finally:
        dp.close()


def test_one_refresh_loop_after_vpp_restarts(vpp: VppInstance) -> None:
    dp = open_quick(vpp)
    try:
        dp.install(0x21, program(0x21))
        dp.settle()
        assert until(lambda: refresh_loops(dp) == 1)
        for _ in range(2):
            vpp.kill()
            assert until(lambda: not dp.ready), "the datapath did not notice VPP's death"
            vpp.start()
            assert until(lambda: dp.ready, 30), "the datapath did not recover"
            assert until(lambda: 0x21 in dp._usage), "no refresh after the reconnect"
            time.sleep(3 * PERIOD)
            assert refresh_loops(dp) == 1
        assert dp.refresh_failures == 0
    finally:
        dp.close()


def test_sessions_created_since_the_refresh_are_read_without_a_call(vpp: VppInstance) -> None:
    """2,000 sessions established between two usage dumps, then a sweep of their counts
    (as the engine's checkpoint): no read waits for VPP; VPP's counts are those."""
    dp = VppDatapath(dataclasses.replace(settings(vpp), usage_refresh=3600.0), pipelined=True)
    try:
        dp.start()
        assert until(dp.usage_cached)  # (the first refresh, before the sessions)
        n = 2000
        for seid in range(1, n + 1):
            dp.install(seid, program(seid))
        assert dp.settle() == {}
        waited: list[Any] = []
        real_run = dp.client.run

        def run(coro: Any, timeout: float | None) -> Any:
            waited.append(coro)
            return real_run(coro, timeout)

        dp.client.run = run  # type: ignore[method-assign]
        started = time.perf_counter()
        reads = [dp.read_usage(seid, 1) for seid in range(1, n + 1)]
        took = time.perf_counter() - started
        dp.client.run = real_run  # type: ignore[method-assign]
        assert waited == []
        assert {(u.urr_id, u.bytes_total, u.packets_total) for u in reads} == {(1, 0, 0)}
        for seid in (1, n // 2, n):
            reply = dp.client.call("upf_usage_get", seid=seid, urr_id=1, reset=False)
            assert [(u.urr_id, u.bytes_total) for u in reply.usage] == [(1, 0)]
        print(f"sweep of {n} sessions created since the last refresh: {took * 1e3:.1f} ms")
    finally:
        dp.close()


def test_a_urr_a_modification_adds_is_read_without_a_call(vpp: VppInstance) -> None:
    """A modification brings URR 2 to a session the last usage dump read: VPP makes the
    URR's counters at 0, and the read without reset answers that 0 without a call."""
    dp = VppDatapath(dataclasses.replace(settings(vpp), usage_refresh=3600.0), pipelined=True)
    try:
        dp.start()
        assert until(dp.usage_cached)  # (the first refresh, before the session)
        dp.install(0x31, program(0x31))
        assert dp.settle() == {}
        dp.client.run(dp._refresh_round(_RefreshPlan(), dp._generation), 10)  # (a refresh)
        assert set(dp._usage[0x31]) == {1}
        one = program(0x31)
        two = dataclasses.replace(
            one,
            pdrs=(dataclasses.replace(one.pdrs[0], urr_ids=(1, 2)), *one.pdrs[1:]),
            urrs=(*one.urrs, Urr(2)),
        )
        dp.install(0x31, two)
        assert dp.settle() == {}
        waited: list[Any] = []
        real_run = dp.client.run

        def run(coro: Any, timeout: float | None) -> Any:
            waited.append(coro)
            return real_run(coro, timeout)

        dp.client.run = run  # type: ignore[method-assign]
        usage = dp.read_usage(0x31, 2)
        dp.client.run = real_run  # type: ignore[method-assign]
        assert waited == []
        assert (usage.bytes_total, usage.packets_total) == (0, 0)
        reply = dp.client.call("upf_usage_get", seid=0x31, urr_id=2, reset=False)
        assert [(u.urr_id, u.bytes_total, u.pkts_total) for u in reply.usage] == [(2, 0, 0)]
    finally:
        dp.close()
