"""The vpp datapath's usage refresh over the plugin stand-in (fake_plugin): a round that
fails is followed by the next; one loop per connection; the counts of sessions and URRs
VPP created since the last refresh are known without a call to VPP; a dump VPP read before
a change of a session is not cached for it; the dump's time limit grows with the sessions."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import pytest
from fake_plugin import FakeSession, FakeVpp
from test_vpp_datapath import SETTINGS, client, open_datapath, ops, program

from pfcpd.datapath.vpp import datapath as vdp
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
        # (asyncio.wait_for's, no text)
        (TimeoutError(), "VPP did not answer the usage dump of 1 session(s) within 2 s"),
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
    its URRs kept their counts in VPP, so a read asks VPP (not a cached 0); so does the read
    of a URR a later modify adds (VPP may have had that URR id before pfcpd knew of it)."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    vpp.sessions[5] = FakeSession(
        cookie=1, urrs={1: {"bytes_total": 900}}, ended={2: {"bytes_total": 40}}
    )
    dp.install(5, program(0x105))
    assert ops(vpp)[-2:] == [
        ("upf_session_add_del", 5, tr.OP_CREATE),
        ("upf_session_add_del", 5, tr.OP_MODIFY),
    ]
    assert dp.read_usage(5, 1).bytes_total == 900
    assert ops(vpp)[-1] == ("upf_usage_get", 5, False)
    dp.install(5, program(0x105, urrs=(1, 2)))
    assert dp.read_usage(5, 2).bytes_total == 40
    assert ops(vpp)[-1] == ("upf_usage_get", 5, False)
    dp.close()


def test_a_urr_new_to_a_session_counts_from_0_one_that_comes_back_is_read() -> None:
    """A modification brings a URR id the session never had: VPP makes its counters at 0,
    so a read without reset answers 0 without a call (as for a new session), also on a
    session older than the last refresh. A URR id a modification ended and a later one
    brings back continues its counts in VPP (it keeps the URR's state): read from VPP."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    dp.install(6, program(0x106))
    vpp.count(6, 1, 10)
    run_rounds(dp, 1)
    assert dp.read_usage(6, 1).bytes_total == 10  # (the refresh's)
    dp.install(6, program(0x106, urrs=(1, 2)))
    vpp.count(6, 2, 20)
    vpp.calls.clear()
    assert dp.read_usage(6, 2).bytes_total == 0  # (made at 0; the next refresh has 20)
    assert vpp.calls == []
    dp.install(6, program(0x106))  # URR 2 ends (its counts kept in VPP)
    dp.install(6, program(0x106, urrs=(1, 2, 3)))  # and comes back, with a new URR 3
    vpp.calls.clear()
    assert dp.read_usage(6, 3).bytes_total == 0
    assert vpp.calls == []
    assert dp.read_usage(6, 2).bytes_total == 20
    assert ops(vpp) == [("upf_usage_get", 6, False)]
    dp.close()


def test_a_session_pfcpd_restored_counts_its_new_urrs_from_0_if_vpp_created_it() -> None:
    """After a pfcpd restart: a session VPP did not hold is created, its URR history is
    its program's; one VPP held (its earlier programs unknown) has its new URRs read."""
    vpp = FakeVpp()
    first = open_datapath(vpp)
    first.start()
    first.install(0xA, program(0x100))
    first.close()
    dp = open_datapath(vpp)
    dp.install(0xA, program(0x100))
    dp.install(0xB, program(0x101))
    dp.start()
    for seid in (0xA, 0xB):
        dp.install(seid, program(0x100 + seid, urrs=(1, 2)))
    vpp.calls.clear()
    assert dp.read_usage(0xB, 2).bytes_total == 0
    assert vpp.calls == []
    dp.read_usage(0xA, 2)
    assert ops(vpp) == [("upf_usage_get", 0xA, False)]
    dp.close()


def run_rounds(dp: VppDatapath, n: int) -> None:
    """Run the refresh for ``n`` rounds (the period is 0: `quick` not called)."""
    dp.settings = dataclasses.replace(dp.settings, usage_refresh=0)

    async def rounds() -> None:
        task = asyncio.ensure_future(client(dp).spawned.pop())
        for _ in range(n):
            await asyncio.sleep(0)
        task.cancel()

    asyncio.run(rounds())


def hold(dp: VppDatapath, name: str) -> tuple[asyncio.Event, asyncio.Event]:
    """The next calls ``name`` from a coroutine: (set once VPP answered it, set to let the
    reply go on)."""
    gate = (asyncio.Event(), asyncio.Event())
    client(dp).gates[name] = gate
    return gate


def usage_dump_held_while(vpp: FakeVpp, dp: VppDatapath, change: Callable[[], None]) -> None:
    """The first refresh round: VPP reads every session's counts, then ``change`` runs
    (VPP taking it), then the round takes the dump's reply. The next round is a second
    (usage_refresh) later: the cache then holds what that round made of the reply."""
    read, release = hold(dp, "upf_session_usage_dump")

    async def run() -> None:
        task = asyncio.ensure_future(client(dp).spawned.pop())
        await until(read.is_set)
        change()
        release.set()
        await until(lambda: dp.usage_cached() or task.done())
        assert not task.done()
        task.cancel()

    asyncio.run(run())
    assert dumps(vpp) == 1


def test_a_dump_read_before_a_session_is_made_again_is_not_cached_for_it() -> None:
    """The session is removed and created again with the same SEID between VPP's read of
    the usage dump and its reply: the reply's counts are the old session's, not cached
    for the new one (which counts from 0)."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    dp.install(1, program(0x101))
    dp.install(2, program(0x102))
    vpp.count(1, 1, 500)
    vpp.count(2, 1, 300)

    def again() -> None:
        assert dp.remove(1)[1].bytes_total == 500
        dp.install(1, program(0x101))

    usage_dump_held_while(vpp, dp, again)
    vpp.calls.clear()
    assert dp.read_usage(1, 1).bytes_total == 0
    assert dp.read_usage(2, 1).bytes_total == 300  # (the dump's, for the session it read)
    assert vpp.calls == []
    dp.close()


def test_a_dump_read_before_a_urr_is_added_leaves_it_cached_at_0() -> None:
    """A modification adds a URR between VPP's read of the usage dump and its reply:
    the reply (which has not the URR) is not cached for the session; the URR's 0 stays."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    dp.install(1, program(0x101))
    vpp.count(1, 1, 500)
    usage_dump_held_while(vpp, dp, lambda: dp.install(1, program(0x101, urrs=(1, 2))))
    vpp.calls.clear()
    assert dp.read_usage(1, 2).bytes_total == 0
    assert vpp.calls == []
    dp.close()


def test_a_dump_read_before_a_reset_is_not_cached_and_marks_are_forgotten() -> None:
    """A read with reset between VPP's read of the usage dump and its reply: the reply is
    not cached for the session (its counts are from before the reset). The marks that keep
    such replies out are forgotten once no read in flight is older than them."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    for seid in range(1, 51):
        dp.install(seid, program(0x100 + seid))
    vpp.count(1, 1, 500)
    usage_dump_held_while(vpp, dp, lambda: dp.read_usage(1, 1, reset=True) and None)
    assert dp.read_usage(1, 1).bytes_total == 0
    assert dp._marks  # (the creates and the reset, sent after the round's read)
    for seid in range(1, 51):
        dp.remove(seid)
    dp._start_refresh()  # (a refresh loop of its own, with no period)
    run_rounds(dp, 2)
    assert dp._marks == {} and not dp._open
    dp.close()


def test_the_usage_dumps_time_limit_grows_with_the_sessions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Decoding a dump of many sessions takes longer than one call's call_timeout: the
    dump is given call_timeout and DUMP_PER_SESSION per session. (DUMP_PER_SESSION is
    raised here so that the limit leaves a loaded machine seconds to decode the reply: the
    test times the limit, not the decoding.)"""
    monkeypatch.setattr(vdp, "DUMP_PER_SESSION", 1e-3)
    settings = dataclasses.replace(SETTINGS, call_timeout=0.2)
    vpp = FakeVpp()
    dp = open_datapath(vpp, settings)
    dp.start()
    n = 5000
    for seid in range(1, n + 1):
        dp.install(seid, program(seid))
    limit = 0.2 + n * vdp.DUMP_PER_SESSION
    assert limit >= 5
    read, release = hold(dp, "upf_session_usage_dump")

    async def run() -> None:
        task = asyncio.ensure_future(client(dp).spawned.pop())
        await until(read.is_set)
        await asyncio.sleep(0.4)  # (twice call_timeout)
        release.set()
        await until(lambda: dp.usage_cached() or task.done())
        assert not task.done()
        task.cancel()

    asyncio.run(run())
    assert dp.refresh_failures == 0
    assert dumps(vpp) == 1
    dp.close()


def test_a_usage_dump_past_its_time_limit_says_so(caplog: Any) -> None:
    vpp = FakeVpp()
    dp = open_datapath(vpp, dataclasses.replace(SETTINGS, call_timeout=0.05))
    dp.start()
    for seid in range(1, 11):
        dp.install(seid, program(seid))
    hold(dp, "upf_session_usage_dump")  # (never let go)

    async def run() -> None:
        task = asyncio.ensure_future(client(dp).spawned.pop())
        await until(lambda: dp.refresh_failures > 0 or task.done())
        task.cancel()

    with caplog.at_level(logging.WARNING, logger="pfcpd.datapath.vpp"):
        asyncio.run(run())
    assert dp.refresh_failures == 1 and not dp.usage_cached()
    assert any(
        "usage dump of 10 session(s) within 0.051 s" in r.getMessage() for r in caplog.records
    )
    dp.close()


def test_lost_events_wait_for_a_round_that_cached_every_session() -> None:
    """Events were lost (the engine then checks every session's limits against the cache):
    a round whose dump is not cached for a session (a URR added to it between VPP's read
    and the reply) does not tell it; the next round, which caches every session, does."""
    vpp = FakeVpp()
    dp = open_datapath(vpp)
    dp.start()
    dp.install(1, program(0x101))
    dp.install(2, program(0x102))
    vpp.count(1, 1, 500)
    dp._lost_pending = True  # (as the round's read of VPP's count of lost events finds)
    usage_dump_held_while(vpp, dp, lambda: dp.install(1, program(0x101, urrs=(1, 2))))
    assert dp.events_lost() is False and dp.usage_cached()
    dp._start_refresh()  # (the refresh loop, started anew: the harness ended the first)
    run_rounds(dp, 1)
    assert dp.events_lost() is True
    assert dp.read_usage(1, 1).bytes_total == 500
    dp.close()
