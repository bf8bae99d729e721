"""The vpp datapath's usage refresh over the plugin stand-in (fake_plugin): a round that
fails is followed by the next; one loop per connection; the counts of sessions created
since the last refresh are known without a call to VPP."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import pytest
from fake_plugin import FakeSession, FakeVpp
from test_vpp_datapath import client, open_datapath, ops, program

from pfcpd.datapath.vpp import translate as tr
from pfcpd.datapath.vpp.client import VppCallError
from pfcpd.datapath.vpp.datapath import VppDatapath

PERIOD = 0.02  # usage_refresh of these tests, s


def quick(dp: VppDatapath) -> None:
    dp.settings = dataclasses.replace(dp.settings, usage_refresh=PERIOD)


def dumps(vpp: FakeVpp) -> int:
    return [name for name, _ in vpp.calls].count("upf_session_usage_dump")


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (the refresh running meanwhile) until ``cond()``; AssertionError after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(PERIOD / 4)


def fail_once(vpp: FakeVpp, name: str, exc: BaseException) -> list[str]:
    """The next call ``name`` fails with ``exc`` (as the client raises it); the list tells
    when it did."""
    failed: list[str] = []

    def failing() -> None:
        del vpp.before[name]
        failed.append(name)
        raise exc

    vpp.before[name] = failing
    return failed


@pytest.mark.parametrize(
    "exc, cause",
    [
        (TimeoutError(), "VPP did not answer within 2 s"),  # (asyncio.wait_for's, no text)
        (VppCallError("upf_session_usage_dump: retval -1", -1), "retval -1"),
        (RuntimeError("a bug"), "RuntimeError: a bug"),
    ],
    ids=["timeout", "vpp error", "bug"],
)
def test_a_failed_round_is_followed_by_the_next(
    exc: BaseException, cause: str, caplog: Any
) -> None:
    """The usage dump fails: the failure is logged with its cause (a bug with its
    traceback) and counted, the cache keeps what it had, and the next period's round
    caches the counts read then."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.install(1, program(0x101))
    dp.start()
    quick(dp)
    vpp.count(1, 1, 300)
    seen: list[int] = []

    async def rounds() -> None:
        task = asyncio.ensure_future(client(dp).spawned.pop())
        await asyncio.sleep(0)  # (the first round)
        seen.append(dp.read_usage(1, 1).bytes_total)
        failed = fail_once(vpp, "upf_session_usage_dump", exc)
        vpp.count(1, 1, 200)
        await until(lambda: bool(failed))  # (the second round)
        seen.append(dp.read_usage(1, 1).bytes_total)
        await until(lambda: dp.read_usage(1, 1).bytes_total != 300 or task.done())
        seen.append(dp.read_usage(1, 1).bytes_total)  # (a round after it)
        assert not task.done(), "the refresh ended"
        task.cancel()

    with caplog.at_level(logging.DEBUG, logger="pfcpd.datapath.vpp"):
        asyncio.run(rounds())
    assert seen == [300, 300, 500]
    assert dp.refresh_failures == 1
    (failure,) = [r for r in caplog.records if "usage refresh failed" in r.getMessage()]
    assert cause in failure.getMessage()
    bug = isinstance(exc, RuntimeError)
    assert (bool(failure.exc_info), failure.levelno) == (
        (True, logging.ERROR) if bug else (False, logging.WARNING)
    )
    assert any("done again after 1 failed round" in r.getMessage() for r in caplog.records)
    dp.close()


def test_failures_in_a_row_are_logged_once_and_all_counted(caplog: Any) -> None:
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    quick(dp)

    def failing() -> None:
        raise TimeoutError

    def messages() -> list[str]:
        return [r.getMessage() for r in caplog.records if "usage refresh" in r.getMessage()]

    async def rounds() -> None:
        task = asyncio.ensure_future(client(dp).spawned.pop())
        await asyncio.sleep(0)
        vpp.before["upf_session_usage_dump"] = failing
        await until(lambda: dumps(vpp) >= 4 or task.done())  # (3 rounds failed)
        del vpp.before["upf_session_usage_dump"]
        await until(lambda: task.done() or any("again after" in m for m in messages()))
        assert not task.done(), "the refresh ended"
        task.cancel()

    with caplog.at_level(logging.INFO, logger="pfcpd.datapath.vpp"):
        asyncio.run(rounds())
    assert dp.refresh_failures >= 3
    assert dp.usage_cached()
    logged = messages()
    assert len(logged) == 2, logged  # the first failure, and the round done again
    assert f"after {dp.refresh_failures} failed round(s)" in logged[1]
    dp.close()


def test_a_failed_read_of_the_lost_count_fails_no_round() -> None:
    """upf_counters_get times out: logged, read again the next round; the usage dump of
    the same round is made and cached."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.install(1, program(0x101))
    dp.start()
    quick(dp)
    vpp.count(1, 1, 100)
    failed = fail_once(vpp, "upf_counters_get", TimeoutError())

    async def rounds() -> None:
        task = asyncio.ensure_future(client(dp).spawned.pop())
        await asyncio.sleep(0)
        task.cancel()

    asyncio.run(rounds())
    assert failed and dp.refresh_failures == 0
    assert dumps(vpp) == 1 and dp.read_usage(1, 1).bytes_total == 100
    dp.close()


WINDOW = 10  # periods the tests of one loop count usage dumps over


async def one_loop(vpp: FakeVpp, old: asyncio.Task[None], new: asyncio.Task[None]) -> None:
    """``old`` ends (not failing), ``new`` runs on: one usage dump per period."""
    await until(old.done)
    assert old.exception() is None
    vpp.calls.clear()
    await asyncio.sleep(WINDOW * PERIOD)
    assert not new.done()
    new.cancel()
    assert dumps(vpp) <= WINDOW + 1, dumps(vpp)  # (two loops: about twice as many)


def test_a_quick_reconnect_leaves_one_refresh_loop() -> None:
    """VPP's connection is lost and made again while the refresh sleeps (the client does
    not cancel it): the loop of the old connection ends at its next wake-up, the new
    connection's goes on, one usage dump per period."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.install(1, program(0x101))
    dp.start()
    quick(dp)
    old = client(dp).spawned.pop()

    async def run() -> None:
        first = asyncio.ensure_future(old)
        await asyncio.sleep(0)  # (its first round; now asleep)
        client(dp).lose()
        await client(dp).spawned.pop()  # (reconnected at once)
        assert dp.ready and dp.reconnects == 1
        second = asyncio.ensure_future(client(dp).spawned.pop())
        await one_loop(vpp, first, second)

    asyncio.run(run())
    dp.close()


def test_vpp_lost_during_the_restore_leaves_one_refresh_loop() -> None:
    """VPP's connection is lost and made again before `start` (while the engine
    restores): the reconnect starts a refresh, `start` another; the last one alone runs."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    client(dp).lose()
    asyncio.run(client(dp).spawned.pop())  # (reconnected)
    dp.start()
    quick(dp)
    by_start = client(dp).spawned.pop()
    by_reconnect = client(dp).spawned.pop()

    async def run() -> None:
        first = asyncio.ensure_future(by_reconnect)
        second = asyncio.ensure_future(by_start)
        await one_loop(vpp, first, second)

    asyncio.run(run())
    dp.close()


def test_sessions_created_since_the_refresh_are_read_without_a_call() -> None:
    """A session VPP created since the last usage dump counts from 0: a read without
    reset answers 0 from the cache (a sweep of many new sessions waits for VPP for none);
    a read with reset still reads VPP, and the next refresh caches VPP's counts."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    quick(dp)
    for seid in range(1, 101):
        dp.install(seid, program(0x100 + seid, urrs=(1, 2)))
    vpp.calls.clear()
    vpp.count(7, 1, 100)
    reads = [dp.read_usage(s, u) for s in range(1, 101) for u in (1, 2)]
    assert vpp.calls == []
    assert {(r.urr_id, r.bytes_total, r.packets_total) for r in reads} == {(1, 0, 0), (2, 0, 0)}
    assert dp.read_usage(7, 1, reset=True).bytes_total == 100  # (VPP's)
    vpp.count(8, 2, 50)

    async def one_round() -> None:
        task = asyncio.ensure_future(client(dp).spawned.pop())
        await asyncio.sleep(0)
        task.cancel()

    asyncio.run(one_round())
    assert dp.read_usage(8, 2).bytes_total == 50
    assert dp.read_usage(7, 1).bytes_total == 0
    dp.close()


def test_a_session_vpp_held_unknown_to_pfcpd_is_read_from_vpp() -> None:
    """The create of a session VPP held already (an orphan) is sent again as a modify:
    its URRs kept their counts in VPP, so a read asks VPP (not a cached 0). So does the
    read of a URR a modify added to a session older than the last refresh."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    vpp.sessions[5] = FakeSession(cookie=1, urrs={1: {"bytes_total": 900, "pkts_total": 3}})
    dp.install(5, program(0x105))
    assert ops(vpp)[-2:] == [
        ("upf_session_add_del", 5, tr.OP_CREATE),
        ("upf_session_add_del", 5, tr.OP_MODIFY),
    ]
    assert dp.read_usage(5, 1).bytes_total == 900
    assert ops(vpp)[-1] == ("upf_usage_get", 5, False)

    dp.install(6, program(0x106))
    vpp.count(6, 1, 10)
    dp._usage.clear()  # (as after a refresh that had not seen it)
    dp.install(6, program(0x106, urrs=(1, 2)))
    vpp.count(6, 2, 20)
    assert dp.read_usage(6, 2).bytes_total == 20
    assert ops(vpp)[-1] == ("upf_usage_get", 6, False)
    dp.close()
