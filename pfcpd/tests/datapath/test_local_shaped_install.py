"""Sessions installed from their own values alone (`ShapedInstall.install_shaped`: a shape
the datapath keeps by its token, no program made, the FARs' sources the shape's) end up as
their programs do through `install`: the same descriptor handed to the library, what the
datapath keeps, the same behaviour of the C core's tables. Programs of every form of
test_local_by_shape (IPv4 and IPv6 UEs and N3 addresses, a dual-stack UE, PDRs sharing an
F-TEID address around one without, several GTP-U FARs, a BAR, network instances); a
token the datapath does not keep (never seen, seen once, a duplicating program's, its
shape dropped) installs nothing and says so."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import require_core
from descriptor_recorder import DescriptorRecorder
from dp_programs import basic_program, duplicating_program
from test_local_by_shape import BASES, _session, _state

from pfcpd.datapath.interface import Bar, DatapathError, SessionProgram
from pfcpd.datapath.local.engine import _NO_LAST, LocalDatapath, with_slots
from pfcpd.session.shapes import ShapeToken


def _values(program: SessionProgram) -> tuple[Any, ...]:
    """``program``'s own values, as `install_shaped` takes them."""
    return (
        [p.local_fteid for p in program.pdrs],
        [p.ue_ip for p in program.pdrs],
        [f.outer_header_creation for f in program.fars if f.outer_header_creation is not None],
        program.bar,
    )


def _sources(program: SessionProgram) -> list[Any]:
    """``program``'s FARs' sources (those creating an outer header), in order."""
    return [f.ohc_source for f in program.fars if f.outer_header_creation is not None]


def _on_v4(base: SessionProgram, i: int) -> SessionProgram:
    """Session ``i`` of ``base`` on the IPv4 N3 address (`_session`'s odd ones): the
    sessions of a token share their FARs' source."""
    return _session(base, 0, 2 * i + 1)


@pytest.fixture
def fresh() -> Iterator[Callable[[], LocalDatapath]]:
    require_core()
    made: list[LocalDatapath] = []

    def make() -> LocalDatapath:
        made.append(LocalDatapath(expected_sessions=64, clock=lambda: 2_000))
        return made[-1]

    yield make
    for dp in made:
        dp.close()


def test_sessions_installed_from_their_values_as_from_their_programs(
    fresh: Callable[[], LocalDatapath],
) -> None:
    """Sessions of every shape, interleaved, into two datapaths: one with `install` of each
    program, the other with `install_shaped` of its values (`install` of the program when
    the token is not kept: the first two of each token). A shape has a token per N3
    address (IPv6 for the even sessions, IPv4 for the odd: `_session`), as an engine's
    programs of one token share theirs, their FARs' source. Then one session replaced by
    another of its shape."""
    by_program, by_values = fresh(), fresh()
    assert by_values.shaped() is by_values
    rec_program, rec_values = DescriptorRecorder(by_program), DescriptorRecorder(by_values)
    bases = [
        (
            dataclasses.replace(base, token=ShapeToken()),
            dataclasses.replace(base, token=ShapeToken()),
        )
        for base in (make() for name, make in BASES.items() if name != "duplicating")
    ]
    programs: dict[int, SessionProgram] = {}
    shaped: list[tuple[int, int]] = []
    for i in range(10):
        for n, by_n3 in enumerate(bases):
            seid = 0x1000 + (n << 8) + i
            base = by_n3[i % 2]
            program = programs[seid] = _session(base, n, i)
            by_program.install(seid, program)
            if by_values.install_shaped(seid, base.token, *_values(program)):
                shaped.append((n, i))
            else:
                by_values.install(seid, program)
    assert shaped == [(n, i) for i in range(4, 10) for n in range(len(bases))]
    assert rec_values.descriptors == rec_program.descriptors
    assert by_values._programs == by_program._programs
    assert by_values._ticking == by_program._ticking
    # A session replaced by another of its shape (and N3 address)
    again = programs[0x1001] = _session(bases[0][1], 0, 31)
    by_program.install(0x1001, again)
    assert by_values.install_shaped(0x1001, bases[0][1].token, *_values(again))
    assert by_values.take_pending() == by_program.take_pending() == []
    assert rec_values.descriptors[-1] == rec_program.descriptors[-1]
    for seid, program in programs.items():
        assert _state(by_values, seid, program) == _state(by_program, seid, program), seid


def test_the_values_stand_for_the_program() -> None:
    """`with_slots` (what a refusal of `install_shaped` names, what tests compare) makes a
    program of a shape from another's values (its FARs' sources the other's, or those
    given): that program."""
    for n, make in enumerate(BASES.values()):
        base = make()
        for i in range(4):
            program = _session(base, n, i)
            assert with_slots(_session(base, n, i % 2), *_values(program)) == program
            assert with_slots(base, *_values(program), sources=_sources(program)) == program


def test_a_token_not_kept_installs_nothing(fresh: Callable[[], LocalDatapath]) -> None:
    """Never seen, seen once, a duplicating program's (never kept), its shape dropped:
    False, no session, nothing handed to the library."""
    dp = fresh()
    rec = DescriptorRecorder(dp)
    token = ShapeToken()
    base = dataclasses.replace(basic_program(), token=token)
    assert not dp.install_shaped(0x10, token, *_values(_on_v4(base, 0)))
    dp.install(0x10, _on_v4(base, 0))
    assert not dp.install_shaped(0x11, token, *_values(_on_v4(base, 1)))
    dupl_token = ShapeToken()
    dupl = dataclasses.replace(duplicating_program(), token=dupl_token)
    for i in range(3):
        dp.install(0x20 + i, _session(dupl, 1, i))
    assert not dp.install_shaped(0x30, dupl_token, *_values(_session(dupl, 1, 5)))
    assert rec.descriptors and len(rec.descriptors) == 4
    assert set(dp._programs) == {0x10, 0x20, 0x21, 0x22}
    dp.install(0x11, _on_v4(base, 1))  # (kept now)
    assert dp.install_shaped(0x12, token, *_values(_on_v4(base, 2)))
    dp._shapes.clear()  # (as `_packed` empties them when full)
    dp._last = _NO_LAST
    assert not dp.install_shaped(0x13, token, *_values(_on_v4(base, 3)))
    assert 0x13 not in dp._programs and len(rec.descriptors) == 6


def test_values_a_kept_shape_refuses(fresh: Callable[[], LocalDatapath]) -> None:
    """Values not of the shape's numbers or BAR: a ValueError (a bug of the caller). A TEID
    the slot cannot hold, an F-TEID another session holds: refused as `install` refuses
    their program, nothing changed; a
    descriptor refused is not kept (the next values: False)."""
    dp = fresh()
    token = ShapeToken()
    base = dataclasses.replace(basic_program(), token=token)
    for i in range(2):
        dp.install(0x10 + i, _on_v4(base, i))
    fteids, ues, tunnels, bar = _values(_on_v4(base, 2))
    # (values not of the shape's numbers, or a BAR where its program has none or none
    # where it has one: the caller's bug, raised as such, not a refusal of the session)
    with pytest.raises(ValueError, match="not of the shape"):
        dp.install_shaped(0x12, token, fteids[:1], ues[:1], tunnels, bar)
    other_bar = Bar(7) if bar is None else None
    with pytest.raises(ValueError, match="not of the shape"):
        dp.install_shaped(0x12, token, fteids, ues, tunnels, other_bar)
    big = [(fteids[0][0], 1 << 32), *fteids[1:]]
    with pytest.raises(DatapathError) as by_values:
        dp.install_shaped(0x12, token, big, ues, tunnels, bar)
    program = dataclasses.replace(
        base, pdrs=(dataclasses.replace(base.pdrs[0], local_fteid=big[0]), *base.pdrs[1:])
    )
    alone = fresh()
    with pytest.raises(DatapathError) as by_program:
        alone.install(0x12, program)
    assert str(by_values.value) == str(by_program.value)
    assert 0x12 not in dp._programs
    assert not dp.install_shaped(0x12, token, fteids, ues, tunnels, bar)  # (dropped)
    for i in range(2, 4):
        dp.install(0x10 + i, _on_v4(base, i))  # (kept again)
    taken = _values(_on_v4(base, 1))[0]  # (session 0x11's F-TEID)
    with pytest.raises(DatapathError, match="already used"):
        dp.install_shaped(0x14, token, taken, ues, tunnels, bar)
    assert 0x14 not in dp._programs
    assert not dp.install_shaped(0x14, token, fteids, ues, tunnels, bar)
