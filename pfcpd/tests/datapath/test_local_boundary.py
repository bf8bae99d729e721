"""The Python <-> C boundary of the local datapath: layouts and constants checked against the
library at load, values ctypes would truncate refused, no NULL session handed to C."""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import enum
import ipaddress
import shutil
import subprocess
from pathlib import Path

import pytest
from dp_programs import basic_program

from pfcpd.datapath.interface import DatapathError, Interface, Pdr, Usage
from pfcpd.datapath.local import corelib
from pfcpd.datapath.local.engine import LocalDatapath, _usage_of


def test_constants_come_from_the_library(datapath: LocalDatapath) -> None:
    k = datapath.core.k
    # spot values from upf_rules.h / upf_pipeline.h, read through upfcore_constant
    assert (k.PDI_FTEID, k.PDI_UE_IP, k.PDI_QFI) == (1, 2, 4)
    assert k.MAX_EVENTS == corelib.MAX_EVENTS
    assert len(datapath.core.drop_names) == k.DROP_N_REASONS
    with pytest.raises(corelib.CoreLibMismatch, match="UPF_NO_SUCH"):
        datapath.core.constant("UPF_NO_SUCH")


def test_a_library_without_a_function_pfcpd_calls_is_refused(tmp_path: Path) -> None:
    """A libupfcore.so built from older sources (every function but a newer one) is refused
    as a mismatch naming the function, not with ctypes' AttributeError."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler (cc, gcc or clang) to build a library lacking a function")
    missing = "upfcore_session_remove"
    assert missing in corelib.FUNCTIONS
    source = tmp_path / "old.c"
    source.write_text(
        "".join(f"void {name}(void) {{}}\n" for name in corelib.FUNCTIONS if name != missing)
    )
    lib = tmp_path / "libupfcore.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(lib), str(source)], check=True)
    with pytest.raises(corelib.CoreLibMismatch, match=f"no function {missing} in the library"):
        corelib.CoreLib(lib)
    assert lib not in corelib._loaded


def test_a_library_that_is_not_the_core_is_refused() -> None:
    """(No compiler needed: the C library has none of the core's functions.)"""
    libc = ctypes.util.find_library("c")
    if libc is None:
        pytest.skip("no C library found by ctypes.util.find_library")
    with pytest.raises(corelib.CoreLibMismatch, match="no function upfcore_sizeof"):
        corelib.CoreLib(Path(libc))


def test_enum_that_disagrees_with_c_is_refused(datapath: LocalDatapath) -> None:
    class Wrong(enum.IntEnum):
        ACCESS = 0
        CORE = 2  # C: UPF_IF_CORE = 1

    datapath.core.check_enum(Interface, "UPF_IF_", {"VN_INTERNAL": "5G_VN_INTERNAL"})
    with pytest.raises(corelib.CoreLibMismatch, match=r"Wrong\.CORE"):
        datapath.core.check_enum(Wrong, "UPF_IF_", {})


def test_field_order_that_disagrees_with_c_is_refused(
    datapath: LocalDatapath, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same size, two fields swapped: the size check alone would pass."""
    fields = list(corelib.EventT._fields_)
    names = [f[0] for f in fields]
    a, b = names.index("seid"), names.index("value")
    fields[a], fields[b] = fields[b], fields[a]
    swapped = type("EventT", (corelib._Checked,), {"_fields_": fields})
    assert ctypes.sizeof(swapped) == ctypes.sizeof(corelib.EventT)
    monkeypatch.setitem(corelib._STRUCTS, "upf_event_t", swapped)
    with pytest.raises(corelib.CoreLibMismatch, match=r"upf_event_t\.(seid|value) is at offset"):
        corelib.CoreLib(Path(datapath.core.path))


@pytest.mark.parametrize(
    ("field", "value"),
    [("teid", 1 << 32), ("network_instance", 1 << 16), ("network_instance", -1)],
)
def test_values_ctypes_would_truncate_are_refused(
    datapath: LocalDatapath, field: str, value: int
) -> None:
    program = basic_program()
    pdr = program.pdrs[0]
    if field == "teid":
        assert pdr.local_fteid is not None
        changed: Pdr = dataclasses.replace(pdr, local_fteid=(pdr.local_fteid[0], value))
    else:
        changed = dataclasses.replace(pdr, network_instance=value)
    program = dataclasses.replace(program, pdrs=(changed, *program.pdrs[1:]))
    with pytest.raises(corelib.OutOfRange, match="does not fit"):
        datapath.install(0x42, program)
    # nothing was installed
    with pytest.raises(DatapathError, match="not installed"):
        datapath.read_usage(0x42, 1)


def test_out_of_range_arguments_are_refused(datapath: LocalDatapath) -> None:
    datapath.install(0x42, basic_program())
    with pytest.raises(corelib.OutOfRange, match="network instance"):
        datapath.process_dl(b"\x45" + bytes(19), network_instance=70000)
    with pytest.raises(corelib.OutOfRange, match="URR ID"):
        datapath.read_usage(0x42, 1 << 32)
    with pytest.raises(corelib.OutOfRange, match="SEID"):
        datapath.install(1 << 64, basic_program())
    arr = corelib.PdrT()
    with pytest.raises(corelib.OutOfRange, match=r"urr_id: 5 values"):
        corelib.set_array(arr, "urr_id", [1, 2, 3, 4, 5])


def test_no_null_session_reaches_c(
    datapath: LocalDatapath, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the library cannot allocate a session the install fails cleanly (the library's
    side: test_failure.c test_put_all_or_nothing)."""

    def refuse(args: object) -> None:
        """upfcore_session_put_args out of memory, given install's arguments."""
        put = datapath._put
        assert args is datapath._put_ref
        assert put.session is None and put.seid == 0x42  # (a new session)
        assert isinstance(put.err, int) and put.desc
        text = b"out of memory creating the session\0"
        assert len(text) <= put.errlen
        ctypes.memmove(put.err, text, len(text))

    monkeypatch.setattr(datapath, "_session_put", refuse)
    with pytest.raises(DatapathError, match="0x42: out of memory creating the session"):
        datapath.install(0x42, basic_program())
    with pytest.raises(DatapathError, match="not installed"):
        datapath.read_usage(0x42, 1)
    monkeypatch.undo()
    datapath.install(0x42, basic_program())  # the datapath is still usable
    assert datapath.read_usage(0x42, 1).packets_total == 0


@pytest.mark.parametrize(
    "cls",
    [
        corelib.SdfT,
        corelib.PdrT,
        corelib.DuplT,
        corelib.FarT,
        corelib.QerT,
        corelib.UrrT,
        corelib.BarT,
        corelib.ProgramDescT,
    ],
)
def test_a_packed_record_has_the_bytes_ctypes_gives_it(cls: type[ctypes.Structure]) -> None:
    """The install path packs records with corelib.Layout: every field, set to a distinct
    value, lands where setting it through ctypes puts it; a value too large is refused
    with the field's name."""
    layout = corelib.Layout(cls)
    fields: dict[str, object] = {}
    expected = cls()
    for n, (name, kind, bits, length) in enumerate(layout.plan, start=1):
        value: object
        if kind == 1:
            value = tuple(n * 10 + i for i in range(length))
            corelib.set_array(expected, name, value)  # type: ignore[arg-type]
        elif kind == 2:
            address = ipaddress.ip_address(f"192.0.2.{n}" if n % 2 else f"2001:db8::{n}")
            value = corelib.ip16(address)
            setattr(expected, name, corelib.ip_t(address))
        elif kind == 3:  # a pointer: an address
            value = 0x7F00_0000_0000 + n * 64
            setattr(expected, name, ctypes.cast(value, dict(cls._fields_)[name]))  # type: ignore[attr-defined]
        else:
            value = (1 << (bits - 1)) + n  # the top bit set: the whole width is used
            setattr(expected, name, value)
        fields[name] = value
    packed = (cls * 1)()
    layout.pack_into(packed, 0, fields)
    assert bytes(packed) == bytes(expected)
    name, kind, bits, _ = next(p for p in layout.plan if p[1] == 0)
    with pytest.raises(corelib.OutOfRange, match=f"{cls.__name__}.{name} = .* does not fit"):
        layout.pack_into(packed, 0, {**fields, name: 1 << bits})


def test_a_usage_record_is_read_field_by_field_right() -> None:
    """The counters are unpacked from the C record in one call: each Usage field comes
    from its own C field."""
    from pfcpd.datapath.local.engine import _usage

    u = corelib.UsageT()
    u.urr_id, u.flags = 7, 0xFFFF
    corelib.set_array(u, "bytes", [101, 102, 103])
    corelib.set_array(u, "pkts", [201, 202, 203])
    u.dropped_dl_pkts, u.dropped_dl_bytes = 301, 302
    u.first_ns, u.last_ns, u.start_ns = 401, 402, 403
    got = _usage(u)
    assert (got.urr_id, got.bytes_total, got.bytes_ul, got.bytes_dl) == (7, 101, 102, 103)
    assert (got.packets_total, got.packets_ul, got.packets_dl) == (201, 202, 203)
    assert (got.dropped_dl_packets, got.dropped_dl_bytes) == (301, 302)
    assert (got.first_packet_ns, got.last_packet_ns) == (401, 402)


def test_a_usage_made_through_its_slots_is_the_usage() -> None:
    """`_usage_of` (each field set through its slot, not __init__) makes the Usage of its
    values: equal, of the same type, hash and repr, each field where its name says, and
    as frozen."""
    values = [7, 1 << 40, 2, 3, 4, 5, 6, 8, 9, 10, (1 << 64) - 1]
    for n in range(len(values)):
        these = values[n:] + values[:n]
        made, want = _usage_of(*these), Usage(*these)
        assert type(made) is Usage
        assert made == want and hash(made) == hash(want) and repr(made) == repr(want)
        assert [getattr(made, f.name) for f in dataclasses.fields(Usage)] == these
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.urr_id = 1  # type: ignore[misc]
