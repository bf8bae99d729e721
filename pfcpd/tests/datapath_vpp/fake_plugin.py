"""A stand-in for VPP + the upf plugin behind `ApiClient`, behaving as upf.api documents
(notes/upf-api.md): CREATE of an existing SEID fails with -116 (VPP's
ENTRY_ALREADY_EXISTS), MODIFY/DELETE/usage of a
missing one with -6, DELETE returns the final usage of every URR, MODIFY keeps the counters
of URRs that stay (and of those it ends, for a later program that brings their id back:
VPP keeps a session's URR state until the session goes), ``upf_usage_get`` with reset
zeroes them after reading.

It tests the driver's decisions (what it sends when, reconciliation, recovery), not the
wire format: test_translate checks that against upf.api, and test_vpp_live against VPP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from pfcpd.datapath.interface import DatapathError
from pfcpd.datapath.vpp import translate as tr
from pfcpd.datapath.vpp.client import VppCallError, VppNoMessage, VppUnavailable, check_reply

EEXIST, ENOENT = tr.ENTRY_ALREADY_EXISTS, tr.NO_SUCH_ENTRY


def usage_record(urr_id: int, counts: dict[str, int]) -> SimpleNamespace:
    """A vl_api_upf_usage_t as vpp_papi returns it: the counters the driver reads
    (translate's USAGE_FIELDS), and flags and start_ns, which it does not."""
    record = {name: counts.get(name, 0) for name in tr.USAGE_FIELDS}
    record.update(urr_id=urr_id, flags=0, start_ns=counts.get("start_ns", 0))
    return SimpleNamespace(**record)


@dataclass
class FakeSession:
    cookie: int
    urrs: dict[int, dict[str, int]] = field(default_factory=dict)
    ended: dict[int, dict[str, int]] = field(default_factory=dict)  # URRs a program dropped
    buffered: int = 0  # its buffered DL packets (upf_session_details.buffered_pkts)


class FakeVpp:
    """The plugin's state: sessions, bindings, interfaces; and a log of calls."""

    def __init__(self, interfaces: Sequence[str] = ("host-n3", "host-n6")) -> None:
        self.interfaces = {name: i + 1 for i, name in enumerate(interfaces)}
        self.sessions: dict[int, FakeSession] = {}
        self.nwis: dict[int, tuple[int, int]] = {}
        self.bound: dict[int, tuple[int, int]] = {}
        self.subscribed = False
        self.missing: set[str] = set()  # messages this plugin version does not have
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.up = True
        self.events_lost = 0  # the plugin's count of events its queues had no room for
        self.before: dict[str, Callable[[], None]] = {}  # message -> run as it comes in
        self.clock_ns = 0  # the plugin's clock its session replies carry (0: none)
        self.echoes: list[tuple[Any, Any, int]] = []  # GTP-U Echo Requests sent (src, dst, seq)

    def restart(self) -> None:
        """VPP restarted: everything it held is gone."""
        self.sessions.clear()
        self.nwis.clear()
        self.bound.clear()
        self.subscribed = False
        self.events_lost = 0  # (a new VPP counts from 0)

    def count(self, seid: int, urr_id: int, n: int) -> None:
        """``n`` bytes (one packet) counted by a URR."""
        c = self.sessions[seid].urrs[urr_id]
        c["bytes_total"] = c.get("bytes_total", 0) + n
        c["pkts_total"] = c.get("pkts_total", 0) + 1

    def handle(self, name: str, args: dict[str, Any]) -> Any:
        if name in self.missing:  # (as ApiClient says of a message VPP does not have)
            raise VppNoMessage(f"VPP has no API message {name}")
        self.calls.append((name, args))
        if name in self.before:
            self.before[name]()
        handler: Callable[[dict[str, Any]], Any] = getattr(self, f"_{name}")
        return handler(args)

    def _sw_interface_dump(self, args: dict[str, Any]) -> Any:
        details = [
            SimpleNamespace(interface_name=name, sw_if_index=idx)
            for name, idx in self.interfaces.items()
        ]
        return SimpleNamespace(retval=0), details

    def _upf_nwi_add_del(self, args: dict[str, Any]) -> Any:
        self.nwis[args["network_instance"]] = (args["ip4_table_id"], args["ip6_table_id"])
        return SimpleNamespace(retval=0)

    def _upf_interface_dump(self, args: dict[str, Any]) -> Any:
        details = [
            SimpleNamespace(sw_if_index=i, role=r, network_instance=n)
            for i, (r, n) in self.bound.items()
        ]
        return SimpleNamespace(retval=0), details

    def _upf_interface_add_del(self, args: dict[str, Any]) -> Any:
        if args["is_add"]:
            self.bound[args["sw_if_index"]] = (args["role"], args["network_instance"])
        else:
            self.bound.pop(args["sw_if_index"], None)
        return SimpleNamespace(retval=0)

    def _want_upf_events(self, args: dict[str, Any]) -> Any:
        self.subscribed = bool(args["enable"])
        return SimpleNamespace(retval=0)

    def _upf_session_dump(self, args: dict[str, Any]) -> Any:
        wanted = args.get("seid", tr.ALL_SESSIONS)
        details = [
            SimpleNamespace(seid=s, cookie=x.cookie, buffered_pkts=x.buffered)
            for s, x in self.sessions.items()
            if wanted in (tr.ALL_SESSIONS, s)
        ]
        return SimpleNamespace(retval=0), details

    def _upf_session_add_del(self, args: dict[str, Any]) -> Any:
        seid, op = args["seid"], args["op"]
        session = self.sessions.get(seid)
        if op == tr.OP_CREATE and session is not None:
            return SimpleNamespace(retval=EEXIST, error="session exists", usage=[])
        if op != tr.OP_CREATE and session is None:
            return SimpleNamespace(retval=ENOENT, error="no such session", usage=[])
        if op == tr.OP_DELETE:
            assert session is not None
            del self.sessions[seid]
            usage = [usage_record(u, c) for u, c in session.urrs.items()]
            return SimpleNamespace(retval=0, error="", usage=usage)
        urr_ids = [r["r"]["urr"]["urr_id"] for r in args["rules"] if r["kind"] == tr.RULE_URR]
        old = session.urrs if session is not None else {}
        states = {**session.ended, **old} if session is not None else {}
        urrs = {u: states.get(u, {}) for u in urr_ids}
        ended = {u: c for u, c in states.items() if u not in urrs}
        self.sessions[seid] = FakeSession(args["cookie"], urrs, ended)
        dropped = [usage_record(u, c) for u, c in old.items() if u not in urr_ids]
        return SimpleNamespace(retval=0, error="", usage=dropped, now_ns=self.clock_ns)

    def _upf_usage_get(self, args: dict[str, Any]) -> Any:
        session = self.sessions.get(args["seid"])
        if session is None:
            return SimpleNamespace(retval=ENOENT, usage=[])
        ids = [args["urr_id"]] if args["urr_id"] else list(session.urrs)
        usage = [usage_record(u, session.urrs[u]) for u in ids if u in session.urrs]
        if args["reset"]:
            for u in ids:
                if u in session.urrs:
                    session.urrs[u] = {}
        return SimpleNamespace(retval=0, usage=usage)

    def _upf_session_usage_dump(self, args: dict[str, Any]) -> Any:
        seids = list(self.sessions) if args["seid"] == tr.ALL_SESSIONS else [args["seid"]]
        details = [
            SimpleNamespace(
                seid=s,
                now_ns=0,
                usage=[usage_record(u, c) for u, c in self.sessions[s].urrs.items()],
            )
            for s in seids
            if s in self.sessions
        ]
        return SimpleNamespace(retval=0), details

    def _upf_counters_get(self, args: dict[str, Any]) -> Any:
        counters = [
            SimpleNamespace(kind=0, index=0, name="rx ul", value=0),
            SimpleNamespace(kind=3, index=1, name="events lost", value=self.events_lost),
        ]
        return SimpleNamespace(retval=0, counters=counters)

    def _upf_gtpu_echo_send(self, args: dict[str, Any]) -> Any:
        """As the plugin: refused (-97, INVALID_ADDRESS_FAMILY) when the addresses are of
        two families; else sent (the test answers it with an event of its own)."""
        if args["src"].version != args["dst"].version:
            return SimpleNamespace(retval=-97)
        self.echoes.append((args["src"], args["dst"], args["seq"]))
        return SimpleNamespace(retval=0)

    def _upf_session_drop_buffered(self, args: dict[str, Any]) -> Any:
        if args["seid"] not in self.sessions:
            return SimpleNamespace(retval=ENOENT, n_dropped=0)
        return SimpleNamespace(retval=0, n_dropped=3)

    def _upf_session_rearm_dl_report(self, args: dict[str, Any]) -> Any:
        if args["seid"] not in self.sessions:
            return SimpleNamespace(retval=ENOENT, rearmed=False)
        return SimpleNamespace(retval=0, rearmed=True)


class FakeClient:
    """`ApiClient`'s interface over a FakeVpp. Coroutines run to completion on the spot;
    what the driver spawns (refresh, recovery) waits in ``spawned`` for the test."""

    def __init__(
        self,
        vpp: FakeVpp,
        socket_path: str,
        call_timeout: float,
        on_message: Callable[[Any], None],
        on_lost: Callable[[], None],
    ) -> None:
        self.vpp = vpp
        self.call_timeout = call_timeout
        self.on_message = on_message
        self.on_lost = on_lost
        self.connected = False
        self.closed = False
        self.spawned: list[Coroutine[Any, Any, None]] = []
        self.posted: list[Any] = []
        # message -> (read, release): a call of it from a coroutine (acall, asend) sets
        # ``read`` once VPP has answered, and waits for ``release`` to take the reply
        self.gates: dict[str, tuple[asyncio.Event, asyncio.Event]] = {}

    def lose(self) -> None:
        """VPP closed the socket."""
        self.connected = False
        self.on_lost()

    def _do(self, name: str, kwargs: dict[str, Any]) -> Any:
        if not self.connected:
            raise VppUnavailable("VPP is not connected")
        reply = self.vpp.handle(name, kwargs)
        return reply if isinstance(reply, tuple) else check_reply(name, reply)

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        # (called from a coroutine of the test: run to its end on the spot, as it never waits)
        try:
            coro.send(None)
        except StopIteration as done:
            return done.value
        coro.close()
        raise AssertionError("a coroutine run by the datapath waited")

    def connect(self) -> None:
        if not self.vpp.up:
            raise VppUnavailable("no socket")
        self.connected = True

    async def aconnect(self) -> None:
        self.connect()

    def call(self, name: str, **kwargs: Any) -> Any:
        return self._do(name, kwargs)

    async def acall(self, name: str, **kwargs: Any) -> Any:
        reply = self._do(name, kwargs)
        if name in self.gates:  # (ApiClient.acall's time limit)
            await asyncio.wait_for(self._replied(name), self.call_timeout)
        return reply

    async def _replied(self, name: str) -> None:
        gate = self.gates.get(name)
        if gate is not None:
            read, release = gate
            read.set()
            await release.wait()

    def call_many(
        self, calls: Sequence[tuple[str, dict[str, Any]]], timeout: float | None = None
    ) -> list[Any]:
        out: list[Any] = []
        for name, kwargs in calls:
            try:
                out.append(self._do(name, kwargs))
            except DatapathError as exc:
                out.append(exc)
        return out

    async def acall_many(self, calls: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]:
        return self.call_many(calls)

    async def asend(self, call: tuple[str, dict[str, Any]]) -> Any:
        name, kwargs = call
        reply = self._do(name, kwargs)
        await self._replied(name)
        return reply

    def post(
        self, calls: Sequence[tuple[str, dict[str, Any]]], before: Callable[[], None] | None = None
    ) -> None:
        """Sent in order on the spot (``before`` first); the replies wait for `collect`."""
        if before is not None:
            before()
        self.posted += self.call_many(calls)

    def collect(self, timeout: float) -> list[Any]:
        out, self.posted = self.posted, []
        return out

    def call_packed(self, name: str, build: Any) -> Any:
        raise AssertionError("the stand-in serves no upf.api JSON: nothing is packed")

    def message_definitions(self, module: str) -> None:
        return None  # (so the datapath uses vpp_papi's argument dicts, which it reads)

    def call_soon(self, fn: Callable[[], None]) -> None:
        fn()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self.spawned.append(coro)

    def close(self) -> None:
        self.closed = True
        self.connected = False
        for coro in self.spawned:
            coro.close()
        self.spawned.clear()


__all__ = ["FakeClient", "FakeVpp", "VppCallError"]
