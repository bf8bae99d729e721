"""ctypes binding of libupfcore.so (upf_plugin/core/upf_corelib.h)."""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import enum
import ipaddress
import os
from pathlib import Path
from struct import Struct
from struct import error as StructError
from typing import NoReturn

from pfcpd.datapath.interface import (
    ApplyAction,
    DatapathError,
    DuplicateEncap,
    EventType,
    Interface,
    IPAddress,
)

c_u8, c_u16, c_u32, c_u64 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64

ENV_VAR = "UPF_CORE_LIB"
LIB_NAME = "libupfcore.so"


class CoreLibNotFound(RuntimeError):
    pass


def packaged_path() -> Path:
    """The library pfcpd's build (setup.py) puts beside this module."""
    return Path(__file__).resolve().parent / LIB_NAME


class CoreLibMismatch(RuntimeError):
    """The library and this binding disagree on a layout or a constant (built apart)."""


class OutOfRange(DatapathError):
    """A value that the C field or argument cannot hold (ctypes would silently truncate it)."""


_UNSIGNED = {ctypes.c_uint8: 8, ctypes.c_uint16: 16, ctypes.c_uint32: 32, ctypes.c_uint64: 64}


def check_range(what: str, value: int, bits: int) -> int:
    """value if it fits in an unsigned C integer of bits bits, else OutOfRange."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise OutOfRange(f"{what} = {value!r} does not fit in an unsigned {bits}-bit field")
    return value


_FIELD_BITS: dict[type, dict[str, int]] = {}


class _Checked(ctypes.Structure):
    """A ctypes structure whose unsigned integer fields refuse values that do not fit."""

    def __setattr__(self, name: str, value: object) -> None:
        cls = type(self)
        widths = _FIELD_BITS.get(cls)
        if widths is None:
            widths = {f: _UNSIGNED[t] for f, t, *_ in cls._fields_ if t in _UNSIGNED}
            _FIELD_BITS[cls] = widths
        bits = widths.get(name)
        if bits is not None:
            check_range(f"{type(self).__name__}.{name}", value, bits)  # type: ignore[arg-type]
        super().__setattr__(name, value)


def set_array(struct: ctypes.Structure, name: str, values: list[int] | tuple[int, ...]) -> None:
    """Fill the unsigned array field name from values, refusing too many or too large ones."""
    arr = getattr(struct, name)
    bits = _UNSIGNED[arr._type_]
    if len(values) > len(arr):
        raise OutOfRange(
            f"{type(struct).__name__}.{name}: {len(values)} values, room for {len(arr)}"
        )
    for i, v in enumerate(values):
        arr[i] = check_range(f"{type(struct).__name__}.{name}[{i}]", v, bits)


def repo_build_path() -> Path:
    """<repo>/build/core/libupfcore.so, for a source checkout (pfcpd/src/pfcpd/datapath/local)."""
    return Path(__file__).resolve().parents[5] / "build" / "core" / LIB_NAME


def find_library(configured: str | None = None) -> Path:
    """The library path: $UPF_CORE_LIB, the configured path, the one installed with pfcpd,
    the repo build, the system."""
    for candidate in (os.environ.get(ENV_VAR), configured):
        if candidate:
            path = Path(candidate)
            if not path.is_file():
                raise CoreLibNotFound(
                    f"{path} does not exist (from ${ENV_VAR} or datapath.core_lib)"
                )
            return path
    for built in (packaged_path(), repo_build_path()):
        if built.is_file():
            return built
    system = ctypes.util.find_library("upfcore")
    if system:
        return Path(system)
    raise CoreLibNotFound(
        f"{LIB_NAME} not found: reinstall pfcpd (its build makes {packaged_path()}), or set "
        f"${ENV_VAR}"
    )


class IpT(_Checked):
    _fields_ = [("b", c_u8 * 16)]


def ip_t(addr: IPAddress | None) -> IpT:
    """IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d), as in the C core."""
    out = IpT()
    if addr is None:
        return out
    raw = bytes(10) + b"\xff\xff" + addr.packed if addr.version == 4 else addr.packed
    ctypes.memmove(out.b, raw, 16)
    return out


def ip_from_t(value: IpT) -> IPAddress:
    raw = bytes(value.b)
    if raw[:12] == bytes(10) + b"\xff\xff":
        return ipaddress.IPv4Address(raw[12:])
    return ipaddress.IPv6Address(raw)


class SdfT(_Checked):
    _fields_ = [
        ("remote", IpT),
        ("ue", IpT),
        ("remote_plen", c_u8),
        ("ue_plen", c_u8),
        ("proto", c_u8),
        ("flags", c_u8),
        ("tos", c_u8),
        ("tos_mask", c_u8),
        ("remote_port_lo", c_u16),
        ("remote_port_hi", c_u16),
        ("ue_port_lo", c_u16),
        ("ue_port_hi", c_u16),
        ("_pad", c_u16),
        ("spi", c_u32),
        ("flow_label", c_u32),
    ]


class PdrT(_Checked):
    _fields_ = [
        ("pdr_id", c_u32),
        ("precedence", c_u32),
        ("source_interface", c_u8),
        ("pdi_flags", c_u8),
        ("qfi", c_u8),
        ("ue_ip_plen", c_u8),
        ("outer_header_removal", c_u8),
        ("_pad", c_u8),
        ("network_instance", c_u16),
        ("teid", c_u32),
        ("fteid_addr", IpT),
        ("ue_ip", IpT),
        ("far_id", c_u32),
        ("qer_id", c_u32 * 2),
        ("urr_id", c_u32 * 4),
        ("sdf_first", c_u16),
        ("sdf_count", c_u16),
    ]


class DuplT(_Checked):
    _fields_ = [
        ("dest_interface", c_u8),
        ("ohc", c_u8),
        ("ohc_flags", c_u8),
        ("dscp", c_u8),
        ("ohc_port", c_u16),
        ("forwarding_policy", c_u16),
        ("ohc_teid", c_u32),
        ("ohc_peer", IpT),
        ("ohc_src", IpT),
    ]


class FarT(_Checked):
    _fields_ = [
        ("far_id", c_u32),
        ("apply_action", c_u8),
        ("dest_interface", c_u8),
        ("ohc", c_u8),
        ("ohc_flags", c_u8),
        ("dscp", c_u8),
        ("redirect_type", c_u8),
        ("network_instance", c_u16),
        ("ohc_teid", c_u32),
        ("dupl_first", c_u16),
        ("dupl_count", c_u8),
        ("_pad", c_u8),
        ("ohc_peer", IpT),
        ("ohc_src", IpT),
        ("redirect_addr", IpT),
    ]


class QerT(_Checked):
    _fields_ = [
        ("qer_id", c_u32),
        ("gate_ul", c_u8),
        ("gate_dl", c_u8),
        ("qfi", c_u8),
        ("rqi", c_u8),
        ("burst_bytes", c_u32),
        ("ppi", c_u8),
        ("_pad", c_u8 * 3),
        ("mbr_ul_bps", c_u64),
        ("mbr_dl_bps", c_u64),
        ("gbr_ul_bps", c_u64),
        ("gbr_dl_bps", c_u64),
    ]


class UrrT(_Checked):
    _fields_ = [
        ("urr_id", c_u32),
        ("triggers", c_u16),
        ("flags", c_u8),
        ("measurement_method", c_u8),
        ("vol_threshold", c_u64 * 3),
        ("vol_quota", c_u64 * 3),
        ("time_threshold_ns", c_u64),
        ("time_quota_ns", c_u64),
        ("time_quota_grant", c_u32),
        ("_pad", c_u32),
    ]


class BarT(_Checked):
    _fields_ = [
        ("bar_id", c_u32),
        ("max_pkts", c_u16),
        ("_pad", c_u16),
        ("max_bytes", c_u32),
        ("duration_grant", c_u32),
        ("duration_ns", c_u64),
    ]


class ProgramDescT(_Checked):
    _fields_ = [
        ("pdr", ctypes.POINTER(PdrT)),
        ("far", ctypes.POINTER(FarT)),
        ("qer", ctypes.POINTER(QerT)),
        ("urr", ctypes.POINTER(UrrT)),
        ("sdf", ctypes.POINTER(SdfT)),
        ("bar", ctypes.POINTER(BarT)),
        ("dupl", ctypes.POINTER(DuplT)),
        ("n_pdr", c_u32),
        ("n_far", c_u32),
        ("n_qer", c_u32),
        ("n_urr", c_u32),
        ("n_sdf", c_u32),
        ("n_dupl", c_u32),
    ]


class PutArgsT(_Checked):
    """upfcore_session_put's arguments in one block (upfcore_session_put_args)."""

    _fields_ = [
        ("ctx", ctypes.c_void_p),
        ("session", ctypes.c_void_p),
        ("seid", c_u64),
        ("desc", ctypes.c_void_p),
        ("err", ctypes.c_void_p),
        ("errlen", c_u64),
        ("buffered", c_u32),
        ("flush", c_u32),
    ]


class SlotT(_Checked):
    """A session's own values in a descriptor kept by its shape (upfcore_session_put_slots): a
    PDR's TEID, F-TEID address and UE address, or a GTP-U FAR's TEID, peer and source."""

    _fields_ = [("teid", c_u32), ("addr", IpT * 2)]


MAX_SLOTS = 255 + 255  # (UPFCORE_MAX_SLOTS)


class PutSlotsT(_Checked):
    """upfcore_session_put_slots's arguments: what changes between installs (n_slot, session,
    seid, desc, the slots) adjacent."""

    _fields_ = [
        ("ctx", ctypes.c_void_p),
        ("err", ctypes.c_void_p),
        ("errlen", c_u64),
        ("flush", c_u32),
        ("_pad", c_u32),
        ("buffered", c_u32),
        ("n_slot", c_u32),
        ("session", ctypes.c_void_p),
        ("seid", c_u64),
        ("desc", ctypes.c_void_p),
        ("slot", SlotT * MAX_SLOTS),
    ]


class RemoveArgsT(_Checked):
    """upfcore_session_remove's arguments in one block (upfcore_session_remove_args)."""

    _fields_ = [
        ("ctx", ctypes.c_void_p),
        ("out", ctypes.c_void_p),
        ("max", c_u32),
        ("_pad", c_u32),
        ("session", ctypes.c_void_p),
    ]


class EventT(_Checked):
    """upf_event_t; peer_af / peer: an Error Indication's GTP-U Peer Address (`event_peer`)."""

    _fields_ = [
        ("type", c_u16),
        ("peer_af", c_u8),
        ("_pad", c_u8),
        ("id", c_u32),
        ("seid", c_u64),
        ("value", c_u64),
        ("peer", IpT),
    ]


MAX_EVENTS = 4
# upf_event_t peer_af: the family of its peer (UPF_EV_PEER_*; 0 = none)
EV_PEER_IP4 = 4
EV_PEER_IP6 = 6


def event_peer(e: EventT) -> IPAddress | None:
    """An event's GTP-U Peer Address (an Error Indication's), None without one."""
    if e.peer_af == EV_PEER_IP4:
        return ipaddress.IPv4Address(bytes(e.peer.b[12:]))
    if e.peer_af == EV_PEER_IP6:
        return ipaddress.IPv6Address(bytes(e.peer.b))
    return None


class VerdictT(_Checked):
    _fields_ = [
        ("verdict", c_u8),
        ("drop_reason", c_u8),
        ("malformed", c_u8),
        ("dest_interface", c_u8),
        ("qfi", c_u8),
        ("rqi", c_u8),
        ("n_dupl", c_u8),
        ("n_events", c_u8),
        ("inner_offset", c_u16),
        ("inner_len", c_u16),
        ("network_instance", c_u16),
        ("gtpu_type", c_u8),
        ("redirect_type", c_u8),
        ("pdr_id", c_u32),
        ("far_id", c_u32),
        ("teid", c_u32),
        ("redirected", c_u8),
        ("ppi", c_u8),
        ("_pad", c_u8 * 2),
        ("seid", c_u64),
        ("encap", ctypes.c_void_p),
        ("dupl", ctypes.POINTER(DuplT)),
        ("dupl_encap", ctypes.c_void_p),
        ("redirect_addr", ctypes.POINTER(IpT)),
        ("session", ctypes.c_void_p),
        ("events", EventT * MAX_EVENTS),
    ]


class UsageT(_Checked):
    _fields_ = [
        ("urr_id", c_u32),
        ("flags", c_u32),
        ("bytes", c_u64 * 3),
        ("pkts", c_u64 * 3),
        ("dropped_dl_pkts", c_u64),
        ("dropped_dl_bytes", c_u64),
        ("first_ns", c_u64),
        ("last_ns", c_u64),
        ("start_ns", c_u64),
    ]


_CODES = {c_u8: "B", c_u16: "H", c_u32: "I", c_u64: "Q"}
_V4_MAPPED = bytes(10) + b"\xff\xff"
NO_IP = bytes(16)


def _ip16_packed(addr: IPAddress | None) -> bytes:
    """The 16 bytes of an IpT: IPv4 addresses IPv4-mapped (::ffff:a.b.c.d), as in ip_t."""
    if addr is None:
        return NO_IP
    return _V4_MAPPED + addr.packed if isinstance(addr, ipaddress.IPv4Address) else addr.packed


_V4_MAPPED_INT = 0xFFFF << 32
_V4, _V6 = ipaddress.IPv4Address, ipaddress.IPv6Address


def ip16(addr: IPAddress | None) -> bytes:
    """The 16 bytes of an IpT: IPv4 addresses IPv4-mapped (::ffff:a.b.c.d), as in ip_t.
    (An address's integer, which ipaddress keeps, in one call: ``packed`` is two Python
    functions deep; `_ip16_packed` where that integer is not kept so.)"""
    kind = type(addr)
    if kind is _V4:
        value: int = addr._ip  # type: ignore[union-attr]
        return (value | _V4_MAPPED_INT).to_bytes(16, "big")
    if kind is _V6:
        value = addr._ip  # type: ignore[union-attr]
        return value.to_bytes(16, "big")
    return _ip16_packed(addr)


# Checked once: a Python whose ipaddress keeps its addresses otherwise gets `_ip16_packed`.
_SAMPLES: tuple[IPAddress, ...] = (
    _V4("0.0.0.0"),
    _V4("192.0.2.1"),
    _V4("255.255.255.255"),
    _V6("::"),
    _V6("2001:db8::1"),
    _V6("fe80::1%eth0"),
    _V6("::ffff:192.0.2.1"),
    _V6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
)
try:
    _IP16_SAME = all(ip16(a) == _ip16_packed(a) for a in _SAMPLES)
except (AttributeError, TypeError, OverflowError):
    _IP16_SAME = False
if not _IP16_SAME:
    ip16 = _ip16_packed
# ip16 of an IPv4 address written inline (engine: an install's UE address):
# ``(addr._ip | V4_MAPPED_INT).to_bytes(16, "big")`` when ``type(addr) is V4_INT``
# (None where ipaddress does not keep that integer: never true, `ip16` then)
V4_INT: type[ipaddress.IPv4Address] | None = _V4 if _IP16_SAME else None
V4_MAPPED_INT = _V4_MAPPED_INT


class Layout:
    """One structure's C layout as a `struct.Struct` (a field set through ctypes costs
    ~1 us, a whole record packed well under that). The install path packs each record
    from its values in the fields' order (`pack`, or `struct` itself; `expect` checks the
    order it assumes); `pack_into`/`pack_at` fill a record from a dict of its field
    values (missing fields 0). ``_pad`` fields are zero; arrays take their values, IpT
    fields 16 bytes (`ip16`), pointers an address. A value its field cannot hold raises
    OutOfRange naming the field, as setting it on the `_Checked` structure does."""

    def __init__(self, cls: type[ctypes.Structure]) -> None:
        self.name = cls.__name__
        codes: list[str] = []
        self._codes = codes  # (what `array_struct` rebuilds)
        self._array_code: dict[str, tuple[int, str, int, int]] = {}  # name: (at, code, n, size)
        # (field, kind, bits, length): kind 0 integer, 1 array, 2 IpT, 3 pointer
        self.plan: list[tuple[str, int, int, int]] = []
        pos = 0
        for name, ctype, *_ in cls._fields_:
            offset = getattr(cls, name).offset
            size = ctypes.sizeof(ctype)
            if offset > pos:
                codes.append(f"{offset - pos}x")
            pos = offset + size
            if name.startswith("_"):
                codes.append(f"{size}x")
            elif ctype in _CODES:
                codes.append(_CODES[ctype])
                self.plan.append((name, 0, _UNSIGNED[ctype], 1))
            elif issubclass(ctype, ctypes.Array) and getattr(ctype, "_type_", None) in _CODES:
                item, length = getattr(ctype, "_type_"), int(getattr(ctype, "_length_"))  # noqa: B009
                self._array_code[name] = (len(codes), _CODES[item], length, ctypes.sizeof(item))
                codes.append(f"{length}{_CODES[item]}")
                self.plan.append((name, 1, _UNSIGNED[item], length))
            elif ctype is IpT:
                codes.append("16s")
                self.plan.append((name, 2, 0, 16))
            elif size == 8 and issubclass(ctype, (ctypes._Pointer, ctypes.c_void_p)):
                codes.append("Q")
                self.plan.append((name, 3, 64, 1))
            else:
                raise CoreLibMismatch(f"{self.name}.{name}: no packing for {ctype}")
        if ctypes.sizeof(cls) > pos:
            codes.append(f"{ctypes.sizeof(cls) - pos}x")
        self.struct = Struct("=" + "".join(codes))
        # The values of a record with every field 0 (IpT fields NO_IP), and where each
        # field's value goes among them: (position, length: 0 for a scalar).
        self.defaults: list[object] = []
        self.where: dict[str, tuple[int, int]] = {}
        for name, kind, _, length in self.plan:
            self.where[name] = (len(self.defaults), length if kind == 1 else 0)
            self.defaults.extend((NO_IP,) if kind == 2 else (0,) * length)
        self.size = ctypes.sizeof(cls)
        if self.struct.size != self.size:
            raise CoreLibMismatch(f"{self.name}: packed {self.struct.size} bytes, C {self.size}")
        # Each of the struct's values, in order: (field name, [index], bits: 0 for IpT).
        self.labels: list[tuple[str, int]] = []
        for name, kind, bits, length in self.plan:
            if kind == 1:
                self.labels.extend((f"{self.name}.{name}[{i}]", bits) for i in range(length))
            else:
                self.labels.append((f"{self.name}.{name}", bits if kind != 2 else 0))

    def expect(self, names: str) -> None:
        """CoreLibMismatch unless the structure's fields (``_pad`` ones aside) are ``names``
        (separated by spaces) in this order: code that packs values positionally (`pack`)
        states the order it assumes with this."""
        fields = " ".join(name for name, *_ in self.plan)
        if fields != " ".join(names.split()):
            raise CoreLibMismatch(f"{self.name}: fields {fields}; the packing assumes {names}")

    def array_struct(self, **lengths: int) -> Struct:
        """The struct with each array field ``name`` taking ``lengths[name]`` values (the
        rest of the array zero bytes) rather than its whole length."""
        codes = list(self._codes)
        for name, n in lengths.items():
            at, code, length, size = self._array_code[name]
            if not 0 <= n <= length:
                raise ValueError(f"{self.name}.{name}: {n} values, room for {length}")
            codes[at] = f"{n}{code}{(length - n) * size}x"
        return Struct("=" + "".join(codes))

    def pack(self, values: tuple[object, ...]) -> bytes:
        """A record from the values of its fields in order (arrays flattened, each as long
        as the C array), refused as `pack_at` refuses (`refuse`)."""
        try:
            return self.struct.pack(*values)
        except StructError as exc:
            self.refuse(values, exc)

    def refuse(self, values: tuple[object, ...], exc: StructError) -> NoReturn:
        """OutOfRange naming the first of ``values`` (as `pack` takes them) that its field
        cannot hold; ``exc`` what `struct` said, if none of them is to blame."""
        for (label, bits), value in zip(self.labels, values, strict=False):
            if bits:
                check_range(label, value, bits)  # type: ignore[arg-type]
        raise OutOfRange(f"{self.name}: {exc}") from None

    def pack_into(
        self, buf: ctypes.Array[ctypes.Structure], index: int, fields: dict[str, object]
    ) -> None:
        self.pack_at(buf, index * self.size, fields)

    def pack_at(
        self,
        buf: ctypes.Array[ctypes.Structure] | bytearray,
        offset: int,
        fields: dict[str, object],
    ) -> None:
        """The record at byte ``offset`` of ``buf``."""
        values = self.defaults.copy()
        where = self.where
        for name, value in fields.items():
            at = where.get(name)
            if at is None:
                continue  # (not a field of this structure)
            pos, length = at
            if not length:
                values[pos] = value
            else:
                assert isinstance(value, tuple | list)
                if len(value) > length:
                    raise OutOfRange(f"{self.name}.{name}: {len(value)} values, room for {length}")
                values[pos : pos + len(value)] = value
        try:
            self.struct.pack_into(buf, offset, *values)
        except StructError as exc:
            for name, kind, bits, _ in self.plan:
                value = fields.get(name, 0)
                if kind in (0, 3):
                    check_range(f"{self.name}.{name}", value, bits)  # type: ignore[arg-type]
                elif kind == 1:
                    assert isinstance(value, tuple | list)
                    for i, v in enumerate(value):
                        check_range(f"{self.name}.{name}[{i}]", v, bits)
            raise OutOfRange(f"{self.name}: {exc}") from None


@dataclasses.dataclass(frozen=True)
class Constants:
    """Values the binding needs, read from the library at load (the C headers are the one
    source); each field is the C constant UPF_<name>."""

    MAX_EVENTS: int
    MAX_DUPL_PER_FAR: int
    MAX_QER_PER_PDR: int
    MAX_URR_PER_PDR: int
    MALFORMED_N_REASONS: int
    DROP_N_REASONS: int
    OHR_NONE: int
    DSCP_NONE: int
    PDI_FTEID: int
    PDI_UE_IP: int
    PDI_QFI: int
    SDF_PROTO: int
    SDF_REMOTE_PORT: int
    SDF_UE_PORT: int
    SDF_TOS: int
    SDF_SPI: int
    SDF_FLOW_LABEL: int
    OHC_GTPU: int
    OHC_F_PSC: int
    REDIRECT_IPV4: int
    REDIRECT_IPV6: int
    URR_T_VOLTH: int
    URR_T_VOLQU: int
    URR_T_TIMTH: int
    URR_T_TIMQU: int
    URR_F_DROP_ON_QUOTA: int
    URR_F_BEFORE_QOS: int
    GATE_OPEN: int
    GATE_CLOSED: int
    PPI_SET: int


# Python enums whose values the C core defines: (enum, C prefix, C names that differ).
# (enum, C prefix, C names of members named otherwise: "" for a member the core has none of)
_ENUMS: list[tuple[type[enum.Enum], str, dict[str, str]]] = [
    (Interface, "UPF_IF_", {"VN_INTERNAL": "5G_VN_INTERNAL"}),
    (ApplyAction, "UPF_AA_", {}),
    # (Echo Responses are pfcpd's: the packet loop takes them before the core, io.py)
    (EventType, "UPF_EV_", {"ECHO_RESPONSE": ""}),
    (DuplicateEncap, "UPF_OHC_", {}),
]

# upf_buffer_cb_t: (arg, packet, length, local): local NULL for an N6 packet, else the address
# a G-PDU's GTP-U message (the packet) came to
BUFFER_CB = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.POINTER(c_u8), c_u32, ctypes.POINTER(IpT)
)

_STRUCTS: dict[str, type[ctypes.Structure]] = {
    "upf_ip_t": IpT,
    "upf_sdf_t": SdfT,
    "upf_pdr_t": PdrT,
    "upf_far_t": FarT,
    "upf_dupl_t": DuplT,
    "upf_qer_t": QerT,
    "upf_urr_t": UrrT,
    "upf_bar_t": BarT,
    "upf_program_desc_t": ProgramDescT,
    "upf_event_t": EventT,
    "upf_verdict_t": VerdictT,
    "upf_usage_t": UsageT,
    "upfcore_put_args_t": PutArgsT,
    "upfcore_slot_t": SlotT,
    "upfcore_put_slots_t": PutSlotsT,
    "upfcore_remove_args_t": RemoveArgsT,
}


_vp, _cp, _sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
_u8p = ctypes.POINTER(c_u8)
# The functions pfcpd calls: name -> (restype, argtypes: None, none checked or converted,
# the caller passing what ctypes passes as is). A library without one of them (built from
# older sources) is refused at load: CoreLibMismatch naming it.
FUNCTIONS: dict[str, tuple[object, list[object] | None]] = {
    "upfcore_sizeof": (_sz, [_cp]),
    "upfcore_offsetof": (ctypes.c_long, [_cp, _cp]),
    "upfcore_constant": (ctypes.c_int, [_cp, ctypes.POINTER(c_u64)]),
    "upfcore_ctx_new": (_vp, [c_u32]),
    "upfcore_ctx_delete": (None, [_vp]),
    "upfcore_stats": (ctypes.POINTER(c_u64), [_vp]),
    "upfcore_reclaim": (ctypes.c_uint, [_vp]),
    # (the error buffer and the count of buffered packets by address: a pointer checked
    # and converted for each install cost ~1 us of ctypes)
    "upfcore_session_put": (_vp, [_vp, _vp, c_u64, _vp, _vp, _sz, _vp]),
    # (install's: one argument, a ctypes.byref of a PutArgsT, passed as it is; seven
    # converted cost ~1.2 us a call)
    "upfcore_session_put_args": (_vp, None),
    # (the same, the session's own values written into the descriptor first)
    "upfcore_session_put_slots": (_vp, None),
    "upfcore_session_remove": (
        ctypes.c_int,
        [_vp, _vp, ctypes.POINTER(UsageT), ctypes.c_uint],
    ),
    # (remove's: one argument, a ctypes.byref of a RemoveArgsT, as install's)
    "upfcore_session_remove_args": (ctypes.c_int, None),
    "upfcore_read_urr": (
        ctypes.c_int,
        [_vp, c_u32, ctypes.POINTER(UsageT), ctypes.c_int, c_u64],
    ),
    "upfcore_tick": (ctypes.c_uint, [_vp, _vp, c_u64, ctypes.POINTER(EventT), ctypes.c_uint]),
    "upfcore_buffer_flush": (ctypes.c_uint, [_vp, BUFFER_CB, _vp]),
    "upfcore_buffer_drop": (ctypes.c_uint, [_vp]),
    "upfcore_buffer_count": (ctypes.c_uint, [_vp]),
    "upfcore_buffer_rearm_report": (ctypes.c_int, [_vp, c_u32, c_u8]),
    "upfcore_ul_packet": (
        c_u32,
        [_vp, _u8p, c_u32, c_u64, ctypes.POINTER(VerdictT), _u8p, c_u32],
    ),
    "upfcore_ul_gtpu_packet": (
        c_u32,
        [_vp, ctypes.POINTER(IpT), _u8p, c_u32, c_u64, ctypes.POINTER(VerdictT), _u8p, c_u32],
    ),
    "upfcore_dl_packet": (
        c_u32,
        [_vp, c_u16, _u8p, c_u32, c_u64, ctypes.POINTER(VerdictT), _u8p, c_u32],
    ),
    "upfcore_dupl_packet": (
        c_u32,
        [ctypes.POINTER(VerdictT), ctypes.c_uint, _u8p, _u8p, c_u32],
    ),
    "upfcore_end_marker_packet": (
        c_u32,
        [ctypes.POINTER(VerdictT), ctypes.c_uint, _u8p, c_u32, ctypes.POINTER(c_u32)],
    ),
    "upfcore_build_end_marker": (
        c_u32,
        [ctypes.POINTER(IpT), ctypes.POINTER(IpT), c_u32, ctypes.c_int, c_u8, _u8p, c_u32],
    ),
    "upfcore_malformed_str": (_cp, [ctypes.c_uint]),
    "upfcore_drop_reason_str": (_cp, [ctypes.c_uint]),
}


class CoreLib:
    """The loaded library with typed function signatures."""

    def __init__(self, path: Path) -> None:
        self.path = path
        lib = ctypes.CDLL(str(path))
        self.lib = lib
        for name, (restype, argtypes) in FUNCTIONS.items():
            try:
                fn = getattr(lib, name)
            except AttributeError:  # (ctypes: "undefined symbol")
                raise CoreLibMismatch(
                    f"{path}: no function {name} in the library (library and pfcpd out of sync)"
                ) from None
            fn.restype = restype
            fn.argtypes = argtypes
        self._check_layout()
        self.k = Constants(
            **{f.name: self.constant("UPF_" + f.name) for f in dataclasses.fields(Constants)}
        )
        for enum_cls, prefix, renames in _ENUMS:
            self.check_enum(enum_cls, prefix, renames)
        if self.constant("UPFCORE_MAX_SLOTS") != MAX_SLOTS:
            raise CoreLibMismatch(f"{path}: UPFCORE_MAX_SLOTS is not {MAX_SLOTS} as in the binding")
        for name, mine in (("UPF_EV_PEER_IP4", EV_PEER_IP4), ("UPF_EV_PEER_IP6", EV_PEER_IP6)):
            if self.constant(name) != mine:
                raise CoreLibMismatch(f"{path}: {name} is not {mine} as in the binding")
        if self.k.MAX_EVENTS != MAX_EVENTS:
            raise CoreLibMismatch(
                f"{path}: UPF_MAX_EVENTS is {self.k.MAX_EVENTS} in C, {MAX_EVENTS} in the binding"
            )
        self.n_malformed = self.k.MALFORMED_N_REASONS
        self.n_drop = self.k.DROP_N_REASONS
        self.malformed_names = [
            lib.upfcore_malformed_str(i).decode() for i in range(self.n_malformed)
        ]
        self.drop_names = [lib.upfcore_drop_reason_str(i).decode() for i in range(self.n_drop)]
        self.max_dupl_per_far = self.k.MAX_DUPL_PER_FAR

    def constant(self, name: str) -> int:
        """The value of the C constant name; CoreLibMismatch if the library has none."""
        value = c_u64()
        if self.lib.upfcore_constant(name.encode(), ctypes.byref(value)) != 0:
            raise CoreLibMismatch(f"{self.path}: no constant {name} in the library")
        return int(value.value)

    def check_enum(self, enum_cls: type[enum.Enum], prefix: str, renames: dict[str, str]) -> None:
        """Every member of enum_cls has the value of the C constant prefix + its name (but
        those renamed to "": not the core's)."""
        for member in enum_cls:
            if renames.get(member.name) == "":
                continue
            cname = prefix + renames.get(member.name, member.name)
            if self.constant(cname) != member.value:
                raise CoreLibMismatch(
                    f"{self.path}: {enum_cls.__name__}.{member.name} is {member.value}, "
                    f"{cname} is {self.constant(cname)} in the library"
                )

    def _check_layout(self) -> None:
        """Size and every field offset of each mirrored struct, as the library has them."""
        for cname, struct in _STRUCTS.items():
            csize = self.lib.upfcore_sizeof(cname.encode())
            if csize != ctypes.sizeof(struct):
                raise CoreLibMismatch(
                    f"{self.path}: {cname} is {csize} bytes in C, {ctypes.sizeof(struct)} in the "
                    "binding (library and pfcpd out of sync)"
                )
            for fname, *_ in struct._fields_:
                off = self.lib.upfcore_offsetof(cname.encode(), fname.encode())
                mine = getattr(struct, fname).offset
                if off != mine:
                    raise CoreLibMismatch(
                        f"{self.path}: {cname}.{fname} is at offset {off} in C, {mine} in the "
                        "binding (library and pfcpd out of sync)"
                    )


_loaded: dict[Path, CoreLib] = {}


def load(configured: str | None = None) -> CoreLib:
    path = find_library(configured)
    if path not in _loaded:
        _loaded[path] = CoreLib(path)
    return _loaded[path]
