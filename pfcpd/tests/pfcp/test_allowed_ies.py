"""The tables of the IEs each message and each grouped IE may carry (ALLOWED_IES,
ALLOWED_CHILDREN): consistent with the mandatory tables, with our samples, and with pycrate."""

from __future__ import annotations

import pytest
from sample_messages import all_samples

from pfcpd.pfcp import Grouped, IEType, MessageType
from pfcpd.pfcp.grouped import ALLOWED_CHILDREN, GROUPED_TYPES, MANDATORY_CHILDREN
from pfcpd.pfcp.ie import IE
from pfcpd.pfcp.ie_types import ie_type_name
from pfcpd.pfcp.messages import ALLOWED_IES, MANDATORY_IES

T = IEType
VENDOR_BIT = 0x8000

# IEs pycrate allows where our tables do not, each accepted for the reason given.
PYCRATE_DIFFERENCES: dict[int, frozenset[int]] = {
    # pycrate 0.8 gives the Usage Report of a Session Report Request the children of the
    # Downlink Data Report; TS 29.244 Table 7.5.8.3-1 (V17.0.0 to V17.7.1) has none of them.
    T.USAGE_REPORT_REPORT_REQUEST: frozenset(
        {T.DOWNLINK_DATA_SERVICE_INFORMATION, T.DL_DATA_PACKETS_SIZE, T.DATA_STATUS}
    ),
}


def test_allowed_sets_hold_the_mandatory_ones() -> None:
    for msg_type, allowed in ALLOWED_IES.items():
        missing = MANDATORY_IES[msg_type] - allowed
        assert not missing, (MessageType(msg_type).name, sorted(missing))
    for group_type, allowed in ALLOWED_CHILDREN.items():
        missing = MANDATORY_CHILDREN[group_type] - allowed
        assert not missing, (ie_type_name(group_type), sorted(missing))


def test_tables_are_keyed_by_known_messages_and_groups_and_list_no_vendor_ies() -> None:
    assert set(ALLOWED_IES) <= {int(t) for t in MessageType}
    assert set(ALLOWED_CHILDREN) <= GROUPED_TYPES
    for allowed in (*ALLOWED_IES.values(), *ALLOWED_CHILDREN.values()):
        assert all(t < VENDOR_BIT for t in allowed)


def unexpected_ies(where: str, allowed: frozenset[int] | None, ies: list[IE]) -> list[str]:
    """Paths of the IEs in ``ies`` (recursively) that their container does not allow."""
    found = []
    for ie in ies:
        path = f"{where}/{ie_type_name(ie.type)}"
        if allowed is not None and not ie.type & VENDOR_BIT and ie.type not in allowed:
            found.append(path)
        if isinstance(ie, Grouped):
            found += unexpected_ies(path, ALLOWED_CHILDREN.get(ie.type), ie.ies)
    return found


def test_samples_use_only_allowed_ies() -> None:
    found = []
    for msg in all_samples():
        found += unexpected_ies(f"{msg.name}-{msg.seq}", ALLOWED_IES.get(msg.msg_type), msg.ies)
    assert found == []


def test_the_walk_finds_an_ie_out_of_place() -> None:
    """The check above can fail: a Create PDR directly inside a PDI is reported."""
    pdi = Grouped(T.PDI, [Grouped(T.CREATE_PDR, [])])
    assert unexpected_ies("m", ALLOWED_IES[MessageType.SESSION_MODIFICATION_REQUEST], [pdi]) == [
        "m/pdi",
        "m/pdi/create_pdr",
    ]


def _pycrate_sets(ies_class: type) -> frozenset[int]:
    """MAND | OPT of a pycrate PFCPIEs class (one of them is sometimes a bare int)."""
    found: set[int] = set()
    for part in (ies_class.MAND, ies_class.OPT):  # type: ignore[attr-defined]
        found |= {part} if isinstance(part, int) else set(part)
    return frozenset(found)


def _beyond_ours(theirs: frozenset[int], ours: frozenset[int] | None) -> set[int]:
    return set() if ours is None else set(theirs - ours)


def test_every_ie_pycrate_allows_is_allowed_by_us() -> None:
    pfcp = pytest.importorskip(
        "pycrate_mobile.TS29244_PFCP", reason="pycrate (pycrate_mobile) is not installed"
    )
    beyond: dict[str, list[str]] = {}
    for group_type, cls in pfcp.PFCPIELUT.items():
        if isinstance(cls, type) and issubclass(cls, pfcp.PFCPIEs):
            extra = _beyond_ours(_pycrate_sets(cls), ALLOWED_CHILDREN.get(group_type))
            extra -= PYCRATE_DIFFERENCES.get(group_type, frozenset())
            if extra:
                beyond[ie_type_name(group_type)] = sorted(ie_type_name(t) for t in extra)
    for msg_type, cls in pfcp.PFCPDispatcher.items():
        ies_class = type(cls()[1])
        extra = _beyond_ours(_pycrate_sets(ies_class), ALLOWED_IES.get(msg_type))
        if extra:
            beyond[MessageType(msg_type).name] = sorted(ie_type_name(t) for t in extra)
    assert beyond == {}


def test_accepted_pycrate_differences_are_still_differences() -> None:
    pfcp = pytest.importorskip(
        "pycrate_mobile.TS29244_PFCP", reason="pycrate (pycrate_mobile) is not installed"
    )
    for group_type, accepted in PYCRATE_DIFFERENCES.items():
        theirs = _pycrate_sets(pfcp.PFCPIELUT[group_type])
        assert accepted <= theirs - ALLOWED_CHILDREN[group_type], ie_type_name(group_type)
