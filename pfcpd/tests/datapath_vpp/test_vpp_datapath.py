"""VppDatapath's decisions over a plugin stand-in (fake_plugin): what it sends at start,
after a pfcpd restart (reconciliation), during and after a VPP restart, and how usage reads
and events are served."""

from __future__ import annotations

import asyncio
import dataclasses
import dis
import ipaddress
import logging
import sys
from typing import Any

import pytest
from fake_plugin import FakeClient, FakeVpp
from vpp_config import settings_of

from pfcpd.datapath.interface import (
    ApplyAction,
    DatapathError,
    EventType,
    Far,
    Interface,
    Pdr,
    SessionProgram,
    Urr,
)
from pfcpd.datapath.vpp import translate as tr
from pfcpd.datapath.vpp.client import VppCallError, VppUnavailable
from pfcpd.datapath.vpp.datapath import VppDatapath, VppStartError
from pfcpd.datapath.vpp.settings import VppDatapathSettings

EVERY_FAR = frozenset(range(256))  # (end markers asked for every FAR of these programs)

N3 = ipaddress.IPv4Address("10.200.0.2")


def program(teid: int, urrs: tuple[int, ...] = (1,)) -> SessionProgram:
    return SessionProgram(
        pdrs=(
            Pdr(1, 100, Interface.ACCESS, 1, local_fteid=(N3, teid), urr_ids=urrs),
            Pdr(2, 100, Interface.CORE, 2, ue_ip=ipaddress.ip_network("10.45.0.7/32")),
        ),
        fars=(Far(1, ApplyAction.FORW), Far(2, ApplyAction.DROP)),
        urrs=tuple(Urr(u) for u in urrs),
    )


SETTINGS = settings_of(
    {
        "kind": "vpp",
        "vpp": {
            "connect_timeout": 0.01,
            "n3_interfaces": ["host-n3"],
            "network_instances": {"internet": {"n6_interfaces": ["host-n6"], "ip4_table_id": 7}},
        },
    },
    ["internet"],
)


def open_datapath(vpp: FakeVpp, settings: VppDatapathSettings = SETTINGS) -> VppDatapath:
    def factory(*args: Any) -> FakeClient:
        return FakeClient(vpp, *args)

    return VppDatapath(settings, client_factory=factory)


def client(dp: VppDatapath) -> FakeClient:
    assert isinstance(dp.client, FakeClient)
    return dp.client


def ops(vpp: FakeVpp) -> list[tuple[str, int, Any]]:
    """The session calls made, as (message, SEID, op or reset)."""
    out = []
    for name, args in vpp.calls:
        if name == "upf_session_add_del":
            out.append((name, args["seid"], args["op"]))
        elif name == "upf_usage_get":
            out.append((name, args["seid"], args["reset"]))
    return out


def test_connect_binds_interfaces_and_subscribes() -> None:
    vpp = FakeVpp()
    vpp.bound[99] = (tr.ROLE_N6, 0)  # a binding the configuration no longer has
    dp = open_datapath(vpp)
    assert vpp.nwis == {0: (7, 0)}
    assert vpp.bound == {1: (tr.ROLE_N3, 0), 2: (tr.ROLE_N6, 0)}
    assert vpp.subscribed
    dp.close()
    assert client(dp).closed


def test_missing_interface_is_a_start_error() -> None:
    with pytest.raises(VppStartError, match=r"no interface 'host-n3'.*VPP has: eth9"):
        open_datapath(FakeVpp(interfaces=("eth9", "host-n6")))


def test_no_vpp_is_a_start_error_after_connect_timeout() -> None:
    vpp = FakeVpp()
    vpp.up = False
    with pytest.raises(VppStartError, match="did not answer"):
        open_datapath(vpp)


def test_fresh_start_creates_the_restored_sessions_at_start() -> None:
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    vpp.calls.clear()
    dp.install(0x10, program(0x100))
    dp.install(0x11, program(0x101))
    assert vpp.calls == []  # restore installs wait for start: one pipelined batch
    dp.start()
    assert ops(vpp) == [
        ("upf_session_add_del", 0x10, tr.OP_CREATE),
        ("upf_session_add_del", 0x11, tr.OP_CREATE),
    ]
    assert set(vpp.sessions) == {0x10, 0x11}
    assert len(client(dp).spawned) == 1  # the usage refresh
    dp.close()


def test_pfcpd_restart_reconciles_with_what_vpp_holds() -> None:
    """Same cookie: left alone, its counters going on (the engine is told VPP kept them);
    other cookie: modified; missing: created; not journaled: deleted."""
    vpp = FakeVpp()
    first = open_datapath(vpp)
    first.start()
    for seid, teid in ((0xA, 0x100), (0xB, 0x101), (0xC, 0x102)):
        first.install(seid, program(teid))
    vpp.count(0xA, 1, 500)
    cookie_a = vpp.sessions[0xA].cookie
    first.close()  # pfcpd stops (or is killed): VPP keeps its sessions
    vpp.count(0xA, 1, 300)  # and counts while pfcpd is away

    vpp.calls.clear()
    second = open_datapath(vpp)
    assert [second.keeps_counts(s) for s in (0xA, 0xB, 0xC, 0xD)] == [True, True, True, False]
    second.install(0xA, program(0x100))  # as journaled
    second.install(0xB, program(0x201))  # the journal had a later change
    second.install(0xD, program(0x103))  # VPP lost it
    second.start()
    assert [op for op in ops(vpp)] == [
        ("upf_session_add_del", 0xB, tr.OP_MODIFY),
        ("upf_session_add_del", 0xD, tr.OP_CREATE),
        ("upf_session_add_del", 0xC, tr.OP_DELETE),
    ]
    assert set(vpp.sessions) == {0xA, 0xB, 0xD}
    assert vpp.sessions[0xA].cookie == cookie_a  # not reprogrammed
    assert second.read_usage(0xA, 1, reset=True).bytes_total == 800  # nothing lost
    second.close()


def test_calls_after_start() -> None:
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    dp.install(0x20, program(0x100, urrs=(1, 2)))
    dp.install(0x20, program(0x100, urrs=(1,)), end_markers=EVERY_FAR)
    _, args = vpp.calls[-1]
    assert (args["op"], args["send_end_marker"]) == (tr.OP_MODIFY, True)
    vpp.count(0x20, 1, 1000)
    n = len(vpp.calls)
    assert dp.read_usage(0x20, 1).bytes_total == 0  # the cache: created at 0 (refreshed later)
    vpp.count(0x20, 1, 1000)
    assert dp.read_usage(0x20, 1).bytes_total == 0
    assert len(vpp.calls) == n
    assert dp.read_usage(0x20, 1, reset=True).bytes_total == 2000  # a reset asks VPP
    assert dp.read_usage(0x20, 1).bytes_total == 0
    assert dp.drop_buffered(0x20) == 3
    vpp.count(0x20, 1, 40)
    assert dp.remove(0x20)[1].bytes_total == 40  # the final usage from the DELETE reply
    assert 0x20 not in vpp.sessions
    with pytest.raises(DatapathError, match="not installed"):
        dp.read_usage(0x20, 1)
    with pytest.raises(DatapathError, match="not installed"):
        dp.remove(0x20)
    dp.close()


def test_a_dl_data_report_is_rearmed_by_the_plugin() -> None:
    """`rearm_dl_data_report` (TS 29.244 5.2.3.1: a report the CP never got) asks the
    plugin, after the installs before it; a session it does not hold, or a plugin without
    the message (older than pfcpd): logged, False."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    dp.install(0x21, program(0x101))
    assert dp.rearm_dl_data_report(0x21, 2, 9) is True
    assert vpp.calls[-2][0] == "upf_session_add_del"
    assert vpp.calls[-1] == ("upf_session_rearm_dl_report", {"seid": 0x21, "pdr_id": 2, "qfi": 9})
    assert dp.rearm_dl_data_report(0x22, 2, 9) is False
    vpp.missing.add("upf_session_rearm_dl_report")
    assert dp.rearm_dl_data_report(0x21, 2, 9) is False
    while client(dp).spawned:
        client(dp).spawned.pop().close()  # (the usage refresh)


def test_the_buffered_packets_are_counted_by_the_plugin() -> None:
    """`buffered` (TS 29.244 5.2.3.1: whether a DLDR the CP never got has data to page the
    UE for) is the plugin's ``buffered_pkts`` of the session (`upf_session_dump`); 0 for a
    session VPP does not hold; None when VPP cannot be asked."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    dp.install(0x23, program(0x103))
    vpp.sessions[0x23].buffered = 4
    assert dp.buffered(0x23) == 4
    assert vpp.calls[-1] == ("upf_session_dump", {"seid": 0x23})
    assert dp.buffered(0x24) == 0
    vpp.missing.add("upf_session_dump")
    assert dp.buffered(0x23) is None
    while client(dp).spawned:
        client(dp).spawned.pop().close()  # (the usage refresh)


def test_sessions_vpp_lost_or_kept_behind_pfcpds_back_are_made_right(caplog: Any) -> None:
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    dp.install(0x30, program(0x100))
    del vpp.sessions[0x30]  # deleted in VPP's CLI: MODIFY answers -6, CREATE follows
    dp.install(0x30, program(0x101))
    assert vpp.sessions[0x30].cookie == dp._programs[0x30][1]
    vpp.sessions[0x31] = type(vpp.sessions[0x30])(cookie=1)  # an orphan: CREATE answers -116
    dp.install(0x31, program(0x102))
    assert vpp.sessions[0x31].cookie == dp._programs[0x31][1]
    assert [op for op in ops(vpp)[-4:]] == [
        ("upf_session_add_del", 0x30, tr.OP_MODIFY),
        ("upf_session_add_del", 0x30, tr.OP_CREATE),
        ("upf_session_add_del", 0x31, tr.OP_CREATE),
        ("upf_session_add_del", 0x31, tr.OP_MODIFY),
    ]
    vpp.sessions.clear()
    with pytest.raises(DatapathError, match="no such session"):
        dp.remove(0x30)  # nothing to take back: the engine logs it
    dp.close()


@pytest.mark.parametrize("usage_dump", [True, False], ids=["usage dump", "per session"])
def test_refresh_fills_the_cache_but_never_undoes_a_reset(usage_dump: bool) -> None:
    vpp = FakeVpp()
    if not usage_dump:
        vpp.missing.add("upf_session_usage_dump")  # an older plugin
    dp = open_datapath(vpp)
    dp.start()
    dp.install(0x40, program(0x100))
    dp.install(0x41, program(0x101))
    vpp.count(0x40, 1, 100)
    vpp.count(0x41, 1, 200)
    refresh = client(dp).spawned.pop()
    real_send, real_many = client(dp).asend, client(dp).acall_many

    async def then_reset() -> None:
        # a usage report resets 0x41 after the refresh read it, before it is applied
        await dp._read(0x41, 1, reset=True)

    async def send(call: Any) -> Any:
        reply = await real_send(call)
        if call[0] == "upf_session_usage_dump":
            await then_reset()
        return reply

    async def call_many(calls: Any) -> list[Any]:
        replies = await real_many(calls)
        await then_reset()
        return replies

    client(dp).asend = send  # type: ignore[method-assign]
    client(dp).acall_many = call_many  # type: ignore[method-assign]
    dp.settings = dataclasses.replace(dp.settings, usage_refresh=0.01)

    async def one_round() -> None:
        # until the round is applied (the cache filled), however slow the machine: the
        # next round is due 10 ms later
        task = asyncio.ensure_future(refresh)
        for _ in range(5000):
            await asyncio.sleep(0.001)
            if dp.usage_cached():
                break
        task.cancel()

    asyncio.run(one_round())
    assert dp.usage_cached()
    reads = [name for name, _ in vpp.calls if name.startswith("upf_session_usage_dump")]
    assert len(reads) == (1 if usage_dump else 0)
    assert vpp.calls[-1][0] == "upf_usage_get"  # (the reset)
    n = len(vpp.calls)
    assert dp.read_usage(0x40, 1).bytes_total == 100  # from the refresh: no call
    assert len(vpp.calls) == n
    assert dp.read_usage(0x41, 1).bytes_total == 0  # the reset, not the older read
    dp.close()


def test_events_are_handed_over_without_blocking() -> None:
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    assert dp.poll_events() == []

    class upf_event:  # (vpp_papi names the tuple after the message)
        records = (
            {"type": 5, "id": 1, "seid": 0x50, "value": 9},
            {"type": 7, "id": 0, "seid": 0, "value": 0x77},
        )

    client(dp).on_message(upf_event())
    events = dp.poll_events()
    assert [(e.type, e.seid, e.id, e.value) for e in events] == [
        (EventType.DL_DATA_REPORT, 0x50, 1, 9),
        (EventType.ERROR_INDICATION, 0, 0, 0x77),
    ]
    assert dp.poll_events() == []
    dp.close()


def test_lost_events_are_told_once_the_refresh_sees_them() -> None:
    """The plugin's count of lost events, read with every usage refresh: the engine is
    told once when it grew (not for those lost before pfcpd connected)."""
    vpp = FakeVpp()
    vpp.events_lost = 5  # (before pfcpd)
    dp = open_datapath(vpp)
    dp.start()
    refresh = client(dp).spawned.pop()
    dp.settings = dataclasses.replace(dp.settings, usage_refresh=0.01)
    told: list[bool] = []

    async def rounds() -> None:
        task = asyncio.ensure_future(refresh)
        await asyncio.sleep(0.005)
        told.append(dp.events_lost())
        vpp.events_lost += 2
        await asyncio.sleep(0.02)
        told.append(dp.events_lost())
        told.append(dp.events_lost())
        task.cancel()

    asyncio.run(rounds())
    assert told == [False, True, False]
    assert [name for name, _ in vpp.calls].count("upf_counters_get") >= 2
    dp.close()


@pytest.mark.parametrize("usage_dump", [True, False])
def test_lost_events_are_told_once_the_counts_after_them_are_cached(usage_dump: bool) -> None:
    """The engine checks the volume limits against the usage cache as soon as it is told
    of lost events: it is told only once the refresh that read the grown count has cached
    the counts read after it (not while the cache holds those of the refresh before)."""
    vpp = FakeVpp()
    if not usage_dump:
        vpp.missing.add("upf_session_usage_dump")
    dp = open_datapath(vpp)
    dp.install(1, program(100))
    dp.start()
    refresh = client(dp).spawned.pop()
    told: dict[str, bool] = {}

    def reading() -> None:  # (VPP answers the refresh's read of the counts)
        told.setdefault("during the read", dp.events_lost())

    vpp.before["upf_session_usage_dump" if usage_dump else "upf_usage_get"] = reading

    async def rounds() -> None:
        task = asyncio.ensure_future(refresh)
        await asyncio.sleep(0)  # (the first refresh: nothing lost)
        told.clear()
        vpp.events_lost += 1
        vpp.count(1, 1, 700)
        # (told by a later round: asked until then, as long as a loaded machine needs)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        told["after it"] = dp.events_lost()
        while not told["after it"] and loop.time() < deadline:
            await asyncio.sleep(0.01)
            told["after it"] = dp.events_lost()
        task.cancel()

    dp.settings = dataclasses.replace(dp.settings, usage_refresh=0.05)
    asyncio.run(rounds())
    assert told == {"during the read": False, "after it": True}
    assert dp.read_usage(1, 1).bytes_total == 700  # (the cache the engine's check reads)
    dp.close()


def test_lost_events_told_while_the_engine_asks_are_not_missed() -> None:
    """The client's thread tells a loss of events while the engine's thread asks
    (`events_lost`): between any two of the asking call's bytecodes, the loss is told by
    that call or by the next one, once."""
    dp = open_datapath(FakeVpp())
    code = VppDatapath.events_lost.__code__
    for at in [i.offset for i in dis.get_instructions(code) if i.opname != "RESUME"]:
        told: list[int] = []

        def step(frame: Any, event: str, arg: Any, at: int = at, told: list[int] = told) -> Any:
            if event == "opcode" and frame.f_lasti == at and not told:
                told.append(at)
                dp._tell_lost()  # (the client's thread, its refresh done)
            return step

        def calls(frame: Any, event: str, arg: Any) -> Any:
            if frame.f_code is not code:
                return None
            frame.f_trace_opcodes = True
            return step

        sys.settrace(calls)
        try:
            first = dp.events_lost()
        finally:
            sys.settrace(None)
        assert told == [at]
        assert [first, dp.events_lost(), dp.events_lost()].count(True) == 1, at
    dp.close()


@pytest.mark.parametrize("missing", [False, True])
def test_a_failed_read_of_the_lost_count_is_made_again(missing: bool) -> None:
    """The refresh's read of the lost events' count fails (VPP answers an error): the
    next refresh reads it again and sees it grew. A plugin without the message is not
    asked again."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    refresh = client(dp).spawned.pop()
    failed: list[str] = []

    def failing() -> None:
        failed.append("upf_counters_get")
        if missing:
            raise DatapathError("VPP has no API message upf_counters_get")
        raise VppCallError("upf_counters_get: retval -1", -1)

    async def rounds() -> None:
        task = asyncio.ensure_future(refresh)
        await asyncio.sleep(0)  # (the first refresh)
        vpp.before["upf_counters_get"] = failing
        vpp.events_lost += 1
        await asyncio.sleep(dp.settings.usage_refresh + 0.02)
        del vpp.before["upf_counters_get"]
        await asyncio.sleep(2 * dp.settings.usage_refresh + 0.02)
        task.cancel()

    dp.settings = dataclasses.replace(dp.settings, usage_refresh=0.05)
    asyncio.run(rounds())
    assert failed == ["upf_counters_get"]
    assert dp.events_lost() is not missing
    asked = [name for name, _ in vpp.calls].count("upf_counters_get")
    assert asked == 3 if missing else asked >= 4  # (at connect, then each refresh)
    dp.close()


def test_vpp_restart_reprograms_every_session() -> None:
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    for seid in range(1, 6):
        dp.install(seid, program(0x100 + seid))
    dp.remove(5)
    client(dp).spawned.pop().close()  # (the usage refresh)
    vpp.restart()
    vpp.up = False
    client(dp).lose()
    with pytest.raises(VppUnavailable):
        dp.install(9, program(0x109))
    with pytest.raises(VppUnavailable):
        dp.read_usage(1, 1, reset=True)
    assert dp.drop_buffered(1) == 0  # logged, not raised (the engine does not expect it)
    recover = client(dp).spawned.pop()
    vpp.up = True
    asyncio.run(recover)
    assert vpp.bound == {1: (tr.ROLE_N3, 0), 2: (tr.ROLE_N6, 0)} and vpp.subscribed
    assert set(vpp.sessions) == {1, 2, 3, 4}
    assert dp.reconnects == 1
    dp.install(9, program(0x109))  # accepted again
    assert 9 in vpp.sessions
    dp.close()


def test_the_plugin_clock_is_read_from_the_reprogram_replies() -> None:
    """A VPP restarted begins its clock anew: the replies that program it again give
    pfcpd's estimate of that clock (`now_ns`), before any usage read."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    dp.install(1, program(0x101))
    client(dp).spawned.pop().close()  # (the usage refresh)
    assert dp.now_ns() > 1_007_000_000  # (no clock seen: the host's monotonic one)
    vpp.restart()
    vpp.clock_ns = 7_000_000
    client(dp).lose()
    asyncio.run(client(dp).spawned.pop())
    assert set(vpp.sessions) == {1}
    assert 7_000_000 <= dp.now_ns() < 1_007_000_000
    dp.close()


@pytest.mark.parametrize("restarted", [False, True])
def test_events_of_a_vpp_reached_again_are_lost_unless_it_restarted(restarted: bool) -> None:
    """The API connection closed and opened again: VPP dropped the events it raised with
    no client subscribed. A VPP that kept the sessions (not restarted) counted on: the
    engine is told events were lost once the refresh has cached its counts; a restarted
    one lost its counters with the events (nothing to check)."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    dp.install(1, program(0x101))
    client(dp).spawned.pop().close()  # (the usage refresh)
    if restarted:
        vpp.restart()
    client(dp).lose()
    asyncio.run(client(dp).spawned.pop())  # (reconnected)
    assert dp.reconnects == 1 and vpp.subscribed
    assert not dp.events_lost()  # (the usage cache not filled yet)
    refresh = client(dp).spawned.pop()

    async def one_round() -> None:
        task = asyncio.ensure_future(refresh)
        await asyncio.sleep(0)
        task.cancel()

    asyncio.run(one_round())
    assert dp.events_lost() is not restarted
    assert not dp.events_lost()
    dp.close()


def test_usage_is_cached_once_a_refresh_filled_the_cache() -> None:
    """Until the first refresh after a connect (or reconnect) fills the usage cache, a
    read without reset would wait for VPP: `usage_cached` says so (the engine's check of
    the counts waits for it)."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.install(1, program(0x101))
    dp.start()

    def one_round() -> None:
        async def run() -> None:
            task = asyncio.ensure_future(client(dp).spawned.pop())
            await asyncio.sleep(0)
            task.cancel()

        asyncio.run(run())

    assert not dp.usage_cached()
    one_round()
    assert dp.usage_cached()
    client(dp).lose()
    asyncio.run(client(dp).spawned.pop())  # (reconnected: the cache emptied)
    assert not dp.usage_cached()
    one_round()
    assert dp.usage_cached()
    dp.close()


def test_metrics_follow_the_connection() -> None:
    from pfcpd.daemon.datapath_service import VppDatapathService
    from pfcpd.metrics import Registry

    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    dp.install(1, program(0x101))
    registry = Registry()
    VppDatapathService(dp).register_metrics(registry)

    def value(name: str) -> float:
        (line,) = [x for x in registry.render().splitlines() if x.startswith(name + " ")]
        return float(line.split()[1])

    assert value("pfcpd_vpp_connected") == 1
    client(dp).spawned.pop().close()
    vpp.restart()
    vpp.up = False
    client(dp).lose()
    assert value("pfcpd_vpp_connected") == 0
    vpp.up = True
    asyncio.run(client(dp).spawned.pop())
    assert (value("pfcpd_vpp_connected"), value("pfcpd_vpp_reconnects_total")) == (1, 1)
    assert value("pfcpd_vpp_program_failures_total") == 0
    assert value("pfcpd_vpp_unknown_events_total") == 0
    assert value("pfcpd_vpp_usage_refresh_failures_total") == 0
    dp.refresh_failures = 3  # (what the refresh loop counts: test_vpp_refresh.py)
    assert value("pfcpd_vpp_usage_refresh_failures_total") == 3
    dp.close()


def test_vpp_back_without_an_interface_waits_for_it(caplog: Any) -> None:
    """VPP restarted without an interface the configuration names: the datapath keeps
    trying, logs the problem once, and recovers when the interface is there."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    dp.install(1, program(0x101))
    client(dp).spawned.pop().close()
    vpp.restart()
    del vpp.interfaces["host-n6"]
    client(dp).lose()
    recover = client(dp).spawned.pop()

    async def until_recovered() -> None:
        task = asyncio.ensure_future(recover)
        await asyncio.sleep(1.2)  # two attempts (one each RECONNECT_INTERVAL)
        assert not dp.ready
        vpp.interfaces["host-n6"] = 2
        await asyncio.wait_for(task, 5)

    with caplog.at_level(logging.ERROR, logger="pfcpd.datapath.vpp"):
        asyncio.run(until_recovered())
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "no interface 'host-n6'" in errors[0]
    assert dp.ready and set(vpp.sessions) == {1}
    dp.close()
