"""`SessionPacker`: upf_session_add_del packed with precompiled structs.

vpp_papi's generic serializer walks every field of every rule through Python objects; for a
typical session that costs several hundred microseconds (bench/vpp_datapath.py). This
module compiles, once per connection, one `struct.Struct` per rule kind from upf.api's
definitions (the JSON VPP itself serves, so the layout follows the plugin VPP runs, not a
copy of it) and packs the rules `translate.program_rules` produces straight into bytes.
The unit tests compare its bytes with vpp_papi's for the same message.

Only what upf_session_add_del's rules contain is compiled: integers, booleans, enums,
aliases of those, fixed arrays of them, vl_api_address_t and vl_api_prefix_t. Anything
else raises `Unsupported` at compile time and the datapath keeps vpp_papi's serializer.
"""

from __future__ import annotations

import collections
import ipaddress
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from pfcpd.datapath.vpp import translate as tr

MESSAGE = "upf_session_add_del"
SCALARS = {
    "u8": "B",
    "i8": "b",
    "bool": "?",
    "u16": "H",
    "i16": "h",
    "u32": "I",
    "i32": "i",
    "u64": "Q",
    "i64": "q",
}
ENUM_SIZES = {"u8": "B", "u16": "H", "u32": "I"}
HEADER = struct.Struct(">HII")  # _vl_msg_id, client_index, context
AF_IP4, AF_IP6 = 0, 1  # ip_types.api address_family


class Unsupported(Exception):
    """upf.api has a field this packer cannot compile."""


def _address(value: object) -> tuple[int, bytes]:
    if value is None:
        return AF_IP4, b""
    assert isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address)
    return (AF_IP4 if value.version == 4 else AF_IP6), value.packed


def _prefix(value: object) -> tuple[int, bytes, int]:
    if value is None:
        return AF_IP4, b"", 0
    assert isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network)
    af = AF_IP4 if value.version == 4 else AF_IP6
    return af, value.network_address.packed, value.prefixlen


# A field's values: (name, default) -> the values it adds to the struct's arguments.
Leaf = tuple[str, Any, Callable[[Any], Sequence[Any]]]


class _Definitions:
    """The types of one API module's JSON (vppapigen's format)."""

    def __init__(self, api: Mapping[str, Any]) -> None:
        self.types = {f"vl_api_{t[0]}_t": _fields(t) for t in api.get("types", [])}
        self.unions = {f"vl_api_{t[0]}_t": _fields(t) for t in api.get("unions", [])}
        self.enums: dict[str, str] = {}
        for e in [*api.get("enums", []), *api.get("enumflags", [])]:
            opts = next((x for x in e[1:] if isinstance(x, dict)), {})
            self.enums[f"vl_api_{e[0]}_t"] = ENUM_SIZES[opts.get("enumtype", "u32")]
        self.aliases = {f"vl_api_{k}_t": v for k, v in api.get("aliases", {}).items()}

    def fmt(self, type_name: str, length: int = 0) -> str:
        """The struct format of a field of ``type_name`` (unions: as bytes)."""
        if type_name in self.aliases:
            alias = self.aliases[type_name]
            return self.fmt(alias["type"], alias.get("length", 0) or length)
        if type_name in SCALARS or type_name in self.enums:
            char = SCALARS.get(type_name) or self.enums[type_name]
            if length:
                return f"{length}s" if char == "B" else char * length
            return char
        if length:
            raise Unsupported(f"array of {type_name}")
        if type_name in self.types:
            return "".join(self.fmt(f[0], _length(f)) for f in self.types[type_name])
        if type_name in self.unions:
            return f"{self.size(type_name)}s"
        raise Unsupported(type_name)

    def size(self, type_name: str) -> int:
        if type_name in self.unions:
            return max(
                struct.calcsize(">" + self.fmt(f[0], _length(f))) for f in self.unions[type_name]
            )
        return struct.calcsize(">" + self.fmt(type_name))

    def leaves(self, type_name: str) -> list[Leaf]:
        """How a dict of ``type_name`` (translate's rule bodies) becomes struct values."""
        out: list[Leaf] = []
        for f in self.types[type_name]:
            ftype, name, length = f[0], f[1], _length(f)
            opts = next((x for x in f[2:] if isinstance(x, dict)), {})
            default = opts.get("default", 0)
            fmt = self.fmt(ftype, length)
            if ftype == "vl_api_address_t":
                if fmt != "B16s":
                    raise Unsupported(f"vl_api_address_t as {fmt}")
                out.append((name, None, _address))
            elif ftype == "vl_api_prefix_t":
                if fmt != "B16sB":
                    raise Unsupported(f"vl_api_prefix_t as {fmt}")
                out.append((name, None, _prefix))
            elif length and not fmt.endswith("s"):
                out.append((name, [0] * length, tuple))
            elif len(fmt) == 1:
                out.append((name, default, _one))
            else:
                raise Unsupported(f"{type_name}.{name} ({ftype})")
        return out


def _one(value: Any) -> tuple[Any]:
    return (value,)


def _compile(
    kind: int, packer: struct.Struct, leaves: list[Leaf]
) -> Callable[[Mapping[str, Any]], bytes]:
    """A function packing one rule body: ``pack(kind, get("a", 0), *conv_b(get("b")), ...)``
    generated from the leaves (one call per rule instead of a loop over its fields)."""
    env: dict[str, Any] = {"pack": packer.pack}
    args = [str(kind)]
    for i, (name, default, conv) in enumerate(leaves):
        env[f"d{i}"] = default
        if conv is _one:
            args.append(f"get({name!r}, d{i})")
        else:
            env[f"c{i}"] = conv
            args.append(f"*c{i}(get({name!r}, d{i}))")
    source = f"def pack_rule(body):\n    get = body.get\n    return pack({', '.join(args)})\n"
    exec(compile(source, f"<upf.api rule {kind}>", "exec"), env)
    fn: Callable[[Mapping[str, Any]], bytes] = env["pack_rule"]
    return fn


def _fields(t: list[Any]) -> list[list[Any]]:
    return [f for f in t[1:] if isinstance(f, list)]


def _length(f: list[Any]) -> int:
    return f[2] if len(f) > 2 and isinstance(f[2], int) else 0


class SessionPacker:
    """Packs upf_session_add_del messages; compiled from the upf module's JSON."""

    def __init__(self, api: Mapping[str, Any]) -> None:
        d = _Definitions(api)
        message = next((m for m in api.get("messages", []) if m[0] == MESSAGE), None)
        if message is None:
            raise Unsupported(f"no message {MESSAGE}")
        fields = _fields(message)
        names = [f[1] for f in fields]
        expected = ["_vl_msg_id", "client_index", "context"]
        expected += ["seid", "op", "send_end_marker", "cookie", "n_rules", "rules"]
        if names != expected:
            raise Unsupported(f"{MESSAGE} fields {names}")
        self.fixed = struct.Struct(">" + "".join(d.fmt(f[0]) for f in fields[3:8]))
        rule = d.types.get(fields[8][0])
        if rule is None or [f[1] for f in rule] != ["kind", "r"]:
            raise Unsupported(f"rule type {fields[8][0]}")
        union = rule[1][0]
        self.rule_size = struct.calcsize(">" + d.fmt(rule[0][0])) + d.size(union)
        if d.fmt(rule[0][0]) != "B":
            raise Unsupported("rule kind is not one byte")
        self.arms: dict[str, Callable[[Mapping[str, Any]], bytes]] = {}
        for kind, arm in enumerate(d.unions[union]):
            if arm[1] != tr.RULE_ARMS[kind]:
                raise Unsupported(f"union arm {kind} is {arm[1]}, not {tr.RULE_ARMS[kind]}")
            s = struct.Struct(">B" + d.fmt(arm[0]))
            pad = self.rule_size - s.size
            packer = struct.Struct(f">B{d.fmt(arm[0])}{pad}x")
            self.arms[arm[1]] = _compile(kind, packer, d.leaves(arm[0]))
        self.crc = str(message[-1].get("crc", "")) if isinstance(message[-1], dict) else ""

    def rules(self, rules: Sequence[Mapping[str, Any]]) -> bytes:
        """The ``rules`` array of translate.program_rules, packed."""
        arms = self.arms
        parts = []
        for rule in rules:
            ((arm, body),) = rule["r"].items()
            parts.append(arms[arm](body))
        return b"".join(parts)

    def message(
        self,
        msg_id: int,
        client_index: int,
        context: int,
        seid: int,
        op: int,
        send_end_marker: bool,
        cookie: int,
        n_rules: int,
        rules: bytes,
    ) -> bytes:
        return (
            HEADER.pack(msg_id, client_index, context)
            + self.fixed.pack(seid, op, send_end_marker, cookie, n_rules)
            + rules
        )


REPLY = "upf_session_add_del_reply"
REPLY_FIELDS = [
    ["u16", "_vl_msg_id"],
    ["u32", "context"],
    ["i32", "retval"],
    ["string", "error", 128],
    ["u64", "now_ns"],
    ["u32", "n_usage"],
]


class SessionReply(NamedTuple):
    """upf_session_add_del_reply as vpp_papi decodes it (its fields, its name)."""

    context: int
    retval: int
    error: str
    now_ns: int
    n_usage: int
    usage: list[Any]


SessionReply.__name__ = REPLY  # (vpp_papi's reader matches replies by type name)


class ReplyDecoder:
    """upf_session_add_del_reply decoded with one precompiled struct when it is the usual
    one (retval 0, no usage: a create, or a modify that drops no URR); None otherwise,
    for vpp_papi's decoder. Compiled from upf.api's JSON like `SessionPacker`."""

    def __init__(self, api: Mapping[str, Any]) -> None:
        message = next((m for m in api.get("messages", []) if m[0] == REPLY), None)
        if message is None:
            raise Unsupported(f"no message {REPLY}")
        fields = _fields(message)
        if [f[:3] for f in fields[:6]] != REPLY_FIELDS or [f[1] for f in fields[6:]] != ["usage"]:
            raise Unsupported(f"{REPLY} fields {[f[1] for f in fields]}")
        self.fixed = struct.Struct(">HIi128sQI")

    def __call__(self, msg: bytes) -> SessionReply | None:
        fixed = self.fixed
        if len(msg) != fixed.size:
            return None
        _, context, retval, _, now_ns, n_usage = fixed.unpack(msg)
        if retval or n_usage:
            return None
        return SessionReply(context, 0, "", now_ns, 0, [])


DETAILS = "upf_session_usage_details"


class UsageDetailsDecoder:
    """upf_session_usage_details decoded with precompiled structs: with vpp_papi's decoder a
    usage dump takes the client's thread 20-45 us per session (50,000 sessions: 1.0-2.2 s,
    every other call waiting meanwhile), with these 5-15 us. Compiled from upf.api's JSON like
    `SessionPacker`: the message must be scalars, the last one counting the records of an
    array of scalar records that ends it (Unsupported otherwise: vpp_papi decodes it).
    The message and its records are namedtuples with the fields' names, as vpp_papi's."""

    def __init__(self, api: Mapping[str, Any]) -> None:
        d = _Definitions(api)
        message = next((m for m in api.get("messages", []) if m[0] == DETAILS), None)
        if message is None:
            raise Unsupported(f"no message {DETAILS}")
        fields = _fields(message)
        *head, array = fields
        names = [f[1] for f in head]
        if (
            names[:2] != ["_vl_msg_id", "context"]
            or len(array) != 4
            or array[2] != 0
            or array[3] != names[-1]
            or array[0] not in d.types
        ):
            raise Unsupported(f"{DETAILS} fields {[f[1] for f in fields]}")
        head_fmt = [d.fmt(f[0], _length(f)) for f in head]
        record = d.types[array[0]]
        record_fmt = [d.fmt(f[0], _length(f)) for f in record]
        if any(len(c) != 1 for c in head_fmt + record_fmt):
            raise Unsupported(f"{DETAILS}: a field not an integer")
        self.head = struct.Struct(">" + "".join(head_fmt))
        self.record = struct.Struct(">" + "".join(record_fmt))
        self.message: Any = collections.namedtuple(DETAILS, [*names[1:], array[1]])  # type: ignore[misc]
        self.records: Any = collections.namedtuple(array[0], [f[1] for f in record])  # type: ignore[misc]

    def __call__(self, msg: bytes) -> Any:
        head, record = self.head, self.record
        if len(msg) < head.size:
            return None
        values = head.unpack_from(msg)
        end = head.size + values[-1] * record.size
        if len(msg) != end:
            return None
        make = self.records._make
        usage = [make(r) for r in record.iter_unpack(msg[head.size : end])]
        return self.message(*values[1:], usage)
