"""A Session Report Request whose host-address check raises (the daemon's answers instead:
`daemon/host_addresses.py`; a driver's check may raise all the same): the report goes to a
usable address of the CP F-SEID when there is one, the association's family first,
without asking about the other (`PfcpNode._request_address`); when sending raises all the
same (a bug), the engine logs it with its traceback, counts it
(pfcpd_session_engine_errors_total{where="report"}), and the usage the report carried goes
into the URR's next report, as for a report never answered (`Reporting._send_report`).
pfcpd listens on 0.0.0.0 here, as the daemon does (the host's addresses are then asked)."""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable

import pytest
from session_harness import (
    CP,
    Harness,
    gtpu,
    report_octets,
    standard_rules,
    ul_packet,
    up_seid,
    urr,
)

from pfcpd.config import Endpoint, PfcpConfig
from pfcpd.datapath.local.engine import Verdict
from pfcpd.node import PfcpNode
from pfcpd.pfcp import IEType, Message, MessageType
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR

M = MessageType
T = IEType
FSEID_V6 = "2001:db8::5"
PACKETS = 8  # uplink packets of 100 octets' payload: over the URR's 1000-octet threshold


def on_wildcard(h: Harness, is_host_address: Callable[[str], bool]) -> None:
    """``h``'s engine behind a node listening on 0.0.0.0 with ``is_host_address`` as the
    daemon's check of the host's addresses; "smf" associated to it."""
    h.node = PfcpNode(
        node_id="127.0.0.1",
        config=PfcpConfig(
            listen=(Endpoint("0.0.0.0", 8805),),
            allowed_peers=None,
            heartbeat_interval=1000.0,
            t1=1.0,
            n1=2,
        ),
        recovery_time_stamp=3_950_000_000,
        session_handler=h.engine,
        is_host_address=is_host_address,
    )
    h.node.start(h.now)
    setup = Message(
        M.ASSOCIATION_SETUP_REQUEST, 1, [A.NodeID.from_text("smf"), S.RecoveryTimeStamp(1)]
    )
    (answer,) = h.exchange(setup)
    assert answer.get(T.CAUSE).value == 1  # type: ignore[union-attr]


def establish(h: Harness, ipv4: str = CP[0]) -> tuple[int, str]:
    """A session whose CP F-SEID has both families (IPv4: ``ipv4``, by default the CP's
    association address), reporting every 1000 octets: its uplink TEID and UE address."""
    rules = [*standard_rules()[:-1], urr(1, "VOLTH", vt=TR.VolumeThreshold(total=1000))]
    fseid = A.FSEID(0xA1, ipv4, ipv6=FSEID_V6)
    resp = h.request(
        Message(M.SESSION_ESTABLISHMENT_REQUEST, 0, [A.NodeID.from_text("smf"), fseid, *rules], 0)
    )
    assert resp.get(T.CAUSE).value == 1  # type: ignore[union-attr]
    pdr = next(iter(resp.get_all(T.CREATED_PDR)))
    teid = pdr.get(T.F_TEID).teid  # type: ignore[union-attr]
    ((_, ue),) = h.engine.sessions[up_seid(resp)].ue
    return teid, ue.partition("/")[0]


def uplink_then_reports(h: Harness, teid: int, ue: str) -> list[Message]:
    """``PACKETS`` uplink packets, then the timers run 3 s, each report answered as it
    comes (before T1): the Session Report Requests."""
    for _ in range(PACKETS):
        assert h.dp.process_ul(gtpu(ul_packet(ue, 100), teid)).verdict == Verdict.FORWARD
    reports: list[Message] = []
    for _ in range(30):
        sent = h.advance(0.1)
        reports += [m for m in sent if m.msg_type == M.SESSION_REPORT_REQUEST]
        h.answer_all(sent)
    return reports


def no_ipv6(ip: str) -> bool:
    if ":" in ip:
        raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
    return False


def test_a_check_failing_for_ipv6_leaves_the_report_to_the_ipv4_address(h: Harness) -> None:
    asked: list[str] = []

    def check(ip: str) -> bool:
        asked.append(ip)
        return no_ipv6(ip)

    on_wildcard(h, check)
    teid, ue = establish(h)
    (report,) = uplink_then_reports(h, teid, ue)
    assert report_octets(report) == PACKETS * len(ul_packet(ue, 100))
    assert asked == []  # (the association's address: taken unasked, IPv6 not tried)
    assert h.engine.metrics.errors.get("report") == 0


def test_a_report_whose_sending_raises_keeps_its_usage_for_the_next(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    failing = True

    def check(ip: str) -> bool:  # no socket at all (out of file descriptors)
        if failing:
            raise OSError(errno.EMFILE, "Too many open files")
        return True  # (127.0.0.3: loopback, the host's; the report goes to the association)

    on_wildcard(h, check)
    teid, ue = establish(h, "127.0.0.3")  # (not the association's address: checked)
    with caplog.at_level(logging.ERROR, logger="pfcpd.session"):
        assert uplink_then_reports(h, teid, ue) == []
    assert h.engine.metrics.errors.get("report") == 1
    (record,) = [r for r in caplog.records if r.exc_info is not None]
    assert isinstance(record.exc_info[1], OSError)  # type: ignore[index]
    assert h.engine._pending == {}
    failing = False
    (report,) = uplink_then_reports(h, teid, ue)
    assert report_octets(report) == 2 * PACKETS * len(ul_packet(ue, 100))  # both rounds
    assert h.engine.metrics.errors.get("report") == 1
