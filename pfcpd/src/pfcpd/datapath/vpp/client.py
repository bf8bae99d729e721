"""`ApiClient`: vpp_papi's asyncio client (`vpp_papi.vpp_papi_async`) in a thread of its own.

The session engine calls the datapath synchronously from pfcpd's event loop, so a call
cannot await there; the client runs its own event loop in the ``vpp-api`` thread and the
datapath waits for the reply of each call (`call`), or sends many calls at once and waits
for all the replies (`call_many`: pipelined, one socket write each, replies matched by
context). Messages that answer no request (``upf_event``) go to ``on_message`` in that
thread. When VPP closes the socket (VPP stopped or crashed) every call waiting fails with
`VppUnavailable` and ``on_lost`` runs in that thread.

The API definitions, VPP's and the plugin's, come from VPP itself (``get_api_json`` at
connect): pfcpd needs no .api.json files.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from pfcpd.datapath.interface import DatapathError

log = logging.getLogger("pfcpd.datapath.vpp")

CLIENT_NAME = "pfcpd"


# A request packed by the caller: build(msg_id, client_index, context) -> the message bytes.
Packed = Callable[[int, int, int], bytes]
# One call of call_many: (message name, its arguments, or a Packed request).
Call = tuple[str, dict[str, Any] | Packed]


class VppUnavailable(DatapathError):
    """VPP is not connected (not started yet, stopped, or restarting)."""


class VppNoMessage(DatapathError):
    """VPP has no such API message (the upf plugin absent, or older than this pfcpd)."""


class VppCallError(DatapathError):
    """VPP answered a call with a non-zero retval."""

    def __init__(self, message: str, retval: int) -> None:
        super().__init__(message)
        self.retval = retval


def import_papi() -> Any:
    """vpp_papi's asyncio client module; VppUnavailable naming the package when absent."""
    try:
        from vpp_papi import vpp_papi_async  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as exc:
        raise VppUnavailable(
            f"the vpp datapath needs vpp_papi with vpp_papi_async (pip install 'pfcpd[vpp]', "
            f"or VPP's python3-vpp-api package): {exc}"
        ) from None
    return vpp_papi_async


def check_reply(name: str, reply: Any) -> Any:
    """The reply, or VppCallError when its retval says the call failed."""
    retval = getattr(reply, "retval", 0)
    if retval != 0:
        why = getattr(reply, "error", "") or f"retval {retval}"
        raise VppCallError(f"{name}: {why}", int(retval))
    return reply


class ApiClient:
    """One connection to VPP's API socket, driven by its own thread and event loop."""

    def __init__(
        self,
        socket_path: str,
        call_timeout: float,
        on_message: Callable[[Any], None],
        on_lost: Callable[[], None],
    ) -> None:
        self.socket_path = socket_path
        self.call_timeout = call_timeout
        self._on_message = on_message
        self._on_lost = on_lost
        self._papi = import_papi()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="vpp-api", daemon=True)
        self._thread.start()
        self._client: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: set[asyncio.Future[Any]] = set()
        self._msg_ids: dict[str, int] = {}
        self._posted: list[tuple[str, asyncio.Future[Any] | DatapathError]] = []  # (see `post`)
        self._modules: dict[str, dict[str, Any]] = {}
        self.connected = False

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    # -- from any other thread ----------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None) -> Any:
        """Run ``coro`` in the client's loop and wait for its result."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise VppUnavailable(f"VPP did not answer within {timeout:g} s") from None

    def connect(self) -> None:
        """Connect (VppUnavailable when VPP's socket does not answer)."""
        self.run(self._connect(), self.call_timeout * 5)

    def call(self, name: str, **kwargs: Any) -> Any:
        """One API call; its reply (VppCallError on a failing retval). Dump calls return
        (reply, [details])."""
        return self.run(self._call(name, kwargs), self.call_timeout)

    def call_packed(self, name: str, build: Packed) -> Any:
        """`call` with the request packed by ``build`` (see `_send_packed`)."""
        return self.run(self._call(name, build), self.call_timeout)

    def call_many(self, calls: Sequence[Call], timeout: float | None = None) -> list[Any]:
        """Send every call at once, then collect the replies (pipelined); per call its
        reply or the DatapathError it failed with."""
        if not calls:
            return []
        budget = timeout if timeout is not None else self.call_timeout + len(calls) * 0.001
        result: list[Any] = self.run(self._call_many(calls), budget)
        return result

    def post(self, calls: Sequence[Call], before: Callable[[], None] | None = None) -> None:
        """Send ``calls`` from the client's loop without waiting for their replies: one
        hop to the client's thread for all of them; `collect` waits for the replies. Calls
        made after it (``call``, another ``post``) reach VPP after these. ``before`` runs
        in the client's thread just before they are sent (nothing else is sent between)."""
        self._loop.call_soon_threadsafe(self._post, calls, before)

    def collect(self, timeout: float) -> list[Any]:
        """The replies of every call posted since the last collect, in the order posted:
        per call its reply or the DatapathError it failed with."""
        result: list[Any] = self.run(self._collect(), timeout)
        return result

    def close(self) -> None:
        """Disconnect, end every task of the client's loop, stop its thread."""
        if self._thread.is_alive():
            with contextlib.suppress(DatapathError, concurrent.futures.CancelledError):
                self.run(self._shutdown(), self.call_timeout * 2)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the client's thread."""
        self._loop.call_soon_threadsafe(fn)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task of the client's loop (from the client's thread)."""
        self._spawn(coro)

    async def acall(self, name: str, **kwargs: Any) -> Any:
        """`call` for coroutines running in the client's loop."""
        return await asyncio.wait_for(self._call(name, kwargs), self.call_timeout)

    async def acall_many(self, calls: Sequence[Call]) -> list[Any]:
        """`call_many` for coroutines running in the client's loop (sent before it first
        waits)."""
        return await self._call_many(calls)

    async def asend(self, call: Call) -> Any:
        """One call for coroutines running in the client's loop, sent before the coroutine
        first waits (`acall`'s wait_for may send it a loop iteration later, after calls
        made meanwhile); its reply, with no timeout of its own (the caller's `run`)."""
        name, args = call
        return await self._call(name, args)

    async def aconnect(self) -> None:
        """`connect` for coroutines running in the client's loop."""
        await asyncio.wait_for(self._connect(), self.call_timeout * 5)

    # -- in the client's loop ------------------------------------------------------------

    async def _connect(self) -> None:
        if self.connected:
            return
        client = _client_class(self._papi)(
            server_address=self.socket_path, read_timeout=self.call_timeout
        )
        events: asyncio.Queue[Any] = asyncio.Queue()
        try:
            rv = await client.connect(CLIENT_NAME, events)
        except Exception as exc:  # (socket errors, or VPP gone in the middle of the handshake)
            _abandon(client)
            raise VppUnavailable(f"cannot connect to VPP at {self.socket_path}: {exc}") from None
        if rv != 0:
            raise VppUnavailable(f"cannot connect to VPP at {self.socket_path} (no socket)")
        self._client = client
        self._msg_ids = {}
        self.connected = True
        self._spawn(self._consume(events))
        self._spawn(self._watch(client))
        try:
            reply = await self._call("get_api_json", {})
            modules = json.loads(reply.json)
        except Exception as exc:
            self._client, self.connected = None, False
            for task in list(self._tasks):
                task.cancel()
            _abandon(client)
            raise VppUnavailable(f"VPP at {self.socket_path}: no API definitions: {exc}") from None
        self._modules = {}
        for module in modules:
            if isinstance(module, dict) and isinstance(module.get("module"), str):
                self._modules[module["module"]] = module

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _consume(self, events: asyncio.Queue[Any]) -> None:
        while True:
            message = await events.get()
            try:
                self._on_message(message)
            except Exception:  # a bug: logged with its traceback, the next event goes on
                log.exception("VPP event %s not handled", type(message).__name__)

    async def _watch(self, client: Any) -> None:
        """Wait for the socket reader to end: VPP closed the connection (or the reader
        failed on a message: logged with its traceback, and handled as a lost connection)."""
        try:
            await client.socket_task
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("vpp_papi's socket reader failed; reconnecting")
        if self._client is not client:
            return  # our own disconnect
        self._lost()

    def _lost(self) -> None:
        if self._client is not None:
            _abandon(self._client)
        self.connected = False
        self._client = None
        for future in list(self._pending):
            if not future.done():
                future.set_exception(VppUnavailable("VPP closed the API connection"))
        self._pending.clear()
        for task in list(self._tasks):
            task.cancel()
        self._on_lost()

    def _send(self, name: str, kwargs: dict[str, Any] | Packed) -> asyncio.Future[Any]:
        client = self._client
        if client is None:
            raise VppUnavailable("VPP is not connected")
        if callable(kwargs):
            return self._send_packed(client, name, kwargs)
        try:
            fn = getattr(client.api, name)
        except AttributeError:
            raise VppNoMessage(
                f"VPP has no API message {name} (is the upf plugin loaded?)"
            ) from None
        try:
            future: asyncio.Future[Any] = fn(**kwargs)
        except (ValueError, TypeError, KeyError) as exc:  # vpp_papi's argument/pack errors
            raise DatapathError(f"{name}: VPP cannot take these arguments: {exc}") from None
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    def _send_packed(self, client: Any, name: str, build: Packed) -> asyncio.Future[Any]:
        """Send bytes packed by ``build(msg_id, client_index, context)``; the reply is
        matched by the reader as for any call."""
        msg_id = self._msg_ids.get(name)
        if msg_id is None:
            msgdef = client.messages.get(name)
            msg_id = client.get_msg_index(f"{name}_{msgdef.crc[2:]}") if msgdef else 0
            if not msg_id:
                raise VppNoMessage(f"VPP has no API message {name} (is the upf plugin loaded?)")
            self._msg_ids[name] = msg_id
        context = client.get_context()
        data = build(msg_id, client.socket_index, context)
        future: asyncio.Future[Any] = self._loop.create_future()
        requests = client.requests
        if requests is None or not client.message_queue.empty():
            # (vpp_papi's writer not started yet, or messages before this one to write)
            client.message_queue.put_nowait(self._papi.QueueObject(data, context, future))
        else:  # written at once: vpp_papi's queue costs a task switch per message
            requests[context] = (future, None, None, [])
            client.writer.write(client.header_struct.pack(0, len(data), 0) + data)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    def set_fast_reply(self, name: str, decode: Callable[[bytes], Any]) -> None:
        """Decode the replies ``name`` with ``decode`` first (its None: vpp_papi's)."""
        client = self._client
        msgdef = client.messages.get(name) if client is not None else None
        msg_id = client.get_msg_index(f"{name}_{msgdef.crc[2:]}") if msgdef else 0
        if msg_id:
            client.fast_replies[msg_id] = decode

    def message_definitions(self, module: str) -> dict[str, Any] | None:
        """The JSON definitions of an API module as VPP served them at connect (None when
        VPP has no such module)."""
        return self._modules.get(module)

    async def _call(self, name: str, kwargs: dict[str, Any] | Packed) -> Any:
        reply = await self._send(name, kwargs)
        if type(reply) is tuple:  # a dump: (control_ping_reply, details); (replies are
            return reply  # namedtuples: tuples too, but not of this exact type)
        return check_reply(name, reply)

    async def _call_many(self, calls: Sequence[Call]) -> list[Any]:
        sent: list[tuple[str, asyncio.Future[Any] | DatapathError]] = []
        self._send_all(calls, sent)
        return await _replies(sent)

    def _post(self, calls: Sequence[Call], before: Callable[[], None] | None) -> None:
        if before is not None:
            before()
        self._send_all(calls, self._posted)

    async def _collect(self) -> list[Any]:
        posted, self._posted = self._posted, []
        return await _replies(posted)

    def _send_all(
        self, calls: Sequence[Call], sent: list[tuple[str, asyncio.Future[Any] | DatapathError]]
    ) -> None:
        for name, kwargs in calls:
            try:
                sent.append((name, self._send(name, kwargs)))
            except DatapathError as exc:
                sent.append((name, exc))

    async def _shutdown(self) -> None:
        await self._disconnect()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        self.connected = False
        for task in list(self._tasks):
            task.cancel()
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), self.call_timeout)
            _abandon(client)


async def _replies(sent: list[tuple[str, asyncio.Future[Any] | DatapathError]]) -> list[Any]:
    """Per call sent, its reply or the DatapathError it failed with."""
    out: list[Any] = []
    for name, f in sent:
        if isinstance(f, DatapathError):
            out.append(f)
            continue
        try:
            out.append(check_reply(name, await f))
        except DatapathError as exc:
            out.append(exc)
    return out


def _abandon(client: Any) -> None:
    """Stop what a vpp_papi_async client started (its tasks, its socket)."""
    for name in ("socket_task", "queue_task"):
        task = getattr(client, name, None)
        if task is not None:
            task.cancel()
    writer = getattr(client, "writer", None)
    if writer is not None:
        writer.close()


_CLASSES: dict[Any, Any] = {}


def _client_class(papi: Any) -> Any:
    """vpp_papi_async's client, reading messages without a context field too.

    Its socket reader reads ``context`` of every message it receives, outside any error
    handling, so an event message without one (VPP's events have none: they carry
    client_index and pid) ends the reader. Such messages are handed to it as a subclass
    of their tuple with ``context = 0``: no request uses context 0 (vpp_papi counts from
    1), so the reader queues them as events, under their own name."""
    cls = _CLASSES.get(papi)
    if cls is None:

        class Client(papi.VPPApiClient):  # type: ignore[misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                # msg id -> a precompiled decoder (its None: not the usual case, vpp_papi's)
                self.fast_replies: dict[int, Callable[[bytes], Any]] = {}
                self.requests: dict[int, Any] | None = None  # the reader's pending requests

            def decode_incoming_msg(self, msg: bytes, no_type_conversion: bool = False) -> Any:
                fast = self.fast_replies.get(int.from_bytes(msg[:2], "big"))
                if fast is not None:
                    decoded = fast(msg)
                    if decoded is not None:
                        return decoded
                decoded = super().decode_incoming_msg(msg, no_type_conversion)
                if decoded is not None and not hasattr(decoded, "context"):
                    decoded = _with_context(decoded)
                return decoded

            async def queue_worker(self, requests: dict[int, Any]) -> None:
                self.requests = requests  # (for `ApiClient._send_packed`'s direct writes)
                await super().queue_worker(requests)

            async def socket_reader(self, requests: dict[int, Any], event_queue: Any) -> None:
                """vpp_papi's reader, without its per-message debug formatting: each
                reply completes its request's future, a stream's details are gathered
                until its end, anything else is an event."""
                reader, header = self.reader, self.header_struct
                while True:
                    try:
                        hdr = await reader.readexactly(16)
                        _, size, _ = header.unpack(hdr)
                        item = self.decode_incoming_msg(await reader.readexactly(size))
                        if not item:
                            log.error("VPP's API socket closed")
                            return
                        req = requests.get(item.context)
                        if req is None:
                            event_queue.put_nowait(item)
                        elif not req[1]:
                            del requests[item.context]
                            if not req[0].done():
                                req[0].set_result(item)
                        else:
                            name = type(item).__name__
                            if name == req[1]:
                                del requests[item.context]
                                if not req[0].done():
                                    req[0].set_result((item, req[3]))
                            elif name == req[2] or req[2] is None:
                                req[3].append(item)
                            else:
                                event_queue.put_nowait(item)
                    except asyncio.CancelledError:
                        return

        cls = _CLASSES[papi] = Client
    return cls


_WITH_CONTEXT: dict[type, type] = {}


def _with_context(message: Any) -> Any:
    kind = type(message)
    sub = _WITH_CONTEXT.get(kind)
    if sub is None:
        sub = _WITH_CONTEXT[kind] = type(kind.__name__, (kind,), {"__slots__": (), "context": 0})
    return sub(*message)
