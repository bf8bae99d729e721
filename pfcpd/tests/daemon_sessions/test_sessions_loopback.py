"""An SMF simulator (pfcpd.smfsim) drives a real `pfcpd run` with the local datapath over
loopback: sessions over PFCP, their effect in the datapath (`pfcpd show sessions`), the
journal in state_dir, metrics. Every datagram pfcpd sends is checked by tshark."""

from __future__ import annotations

import json
import time
from typing import Any

from sessions_harness import needs_root, session_overrides

from pfcpd.pfcp import Cause, Grouped, IEType, decode, encode
from pfcpd.pfcp import ies_flags as F
from pfcpd.smfsim import rules
from pfcpd.smfsim.client import cause_of

pytestmark = needs_root


def show_sessions(daemon: Any, *args: str) -> list[dict[str, Any]]:
    proc = daemon.cli("show", "sessions", "--json", "--config", str(daemon.config_path), *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["sessions"]


def test_establish_modify_delete(start_pfcpd: Any, smf: Any) -> None:
    daemon = start_pfcpd(session_overrides(pool="198.18.7.0/30"))
    cp = smf(daemon)
    cp.associate()
    est = cp.establish(rules.session_rules())
    assert est.ue_addresses and est.ue_addresses[0] in ("198.18.7.1", "198.18.7.2")
    n3 = daemon.config["interfaces"]["n3"]["address"]
    assert est.teids[1][0] == n3
    (view,) = show_sessions(daemon, "--seid", str(est.up_seid))
    assert view["cp_node_id"] == "smf.test" and view["ue_addresses"] == [
        f"{est.ue_addresses[0]}/32"
    ]
    assert daemon.metric("pfcpd_sessions_active") == 1
    table = daemon.cli("show", "sessions", "--config", str(daemon.config_path)).stdout.split("\n")
    assert table[0].split()[:2] == ["UP", "SEID"] and f"0x{est.up_seid:x}" in table[1]
    assert est.ue_addresses[0] in table[1] and "smf.test" in table[1]
    answer = cp.modify(est.up_seid, [rules.update_dl_far(2, 0x200, "192.0.2.10")])
    assert cause_of(answer) == Cause.REQUEST_ACCEPTED
    (view,) = show_sessions(daemon)
    assert view["fars"]["2"]["outer_header_creation"] == ["192.0.2.10", 0x200]
    answer = cp.delete(est.up_seid)
    assert cause_of(answer) == Cause.REQUEST_ACCEPTED
    assert answer.get(IEType.USAGE_REPORT_DELETION_RESPONSE) is not None
    assert show_sessions(daemon) == []
    assert daemon.metric("pfcpd_sessions_active") == 0


def test_a_retransmitted_establishment_creates_one_session(start_pfcpd: Any, smf: Any) -> None:
    """The same request twice (same sequence number): the same answer, one session."""
    daemon = start_pfcpd(session_overrides(pool="198.18.11.0/30"))
    cp = smf(daemon)
    cp.associate()
    request = rules.establishment_request("smf.test", cp.address[0], 77, rules.session_rules())
    request.seq = 4242
    data = encode(request)
    answers = []
    for _ in range(2):
        cp.sock.sendto(data, daemon.addr)
        answer = cp.receive(3.0)
        assert answer is not None
        answers.append(cp.received[-1])
    assert answers[0] == answers[1]
    assert cause_of(decode(answers[0])) == Cause.REQUEST_ACCEPTED
    assert len(show_sessions(daemon)) == 1
    assert daemon.metric("pfcpd_sessions_established_total") == 1


def test_refusals_carry_their_cause_and_rule(start_pfcpd: Any, smf: Any) -> None:
    """Through the real daemon: a FAR reference that does not exist (73 with the Failed
    Rule ID) and an exhausted UE pool (79) leave no session behind."""
    daemon = start_pfcpd(session_overrides(pool="198.18.12.0/30"))  # 2 UE addresses
    cp = smf(daemon)
    cp.associate()
    bad = rules.session_rules()
    bad[0] = rules.ul_pdr(far_id=9)
    answer = cp.establish_raw(bad)
    assert cause_of(answer) == Cause.RULE_CREATION_MODIFICATION_FAILURE
    failed = answer.get(IEType.FAILED_RULE_ID)
    assert failed is not None and failed.rule_id == 9  # type: ignore[attr-defined]
    for _ in range(2):
        cp.establish(rules.session_rules())
    answer = cp.establish_raw(rules.session_rules())
    assert cause_of(answer) == Cause.ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED
    assert len(show_sessions(daemon)) == 2


def test_periodic_usage_reports_count_up(start_pfcpd: Any, smf: Any) -> None:
    """A URR with a 1 s measurement period: a PERIO report about every second, UR-SEQN
    counting up, the trigger counted in the metrics."""
    daemon = start_pfcpd(session_overrides(pool="198.18.13.0/30"))
    cp = smf(daemon)
    cp.associate()
    session = rules.session_rules()
    session[5] = rules.urr(period=1)
    cp.establish(session)
    started = time.monotonic()
    reports = cp.wait_report(timeout=6.0, count=3)
    assert 1.5 <= time.monotonic() - started <= 5.0
    seqns = []
    for report in reports:
        (usage,) = report.get_all(IEType.USAGE_REPORT_REPORT_REQUEST)
        assert isinstance(usage, Grouped)
        trigger = usage.get(IEType.USAGE_REPORT_TRIGGER)
        assert isinstance(trigger, F.UsageReportTrigger) and trigger.has("PERIO")
        seqn = usage.get(IEType.UR_SEQN)
        assert seqn is not None
        seqns.append(seqn.value)  # type: ignore[attr-defined]
    assert seqns == sorted(seqns) and len(set(seqns)) == 3
    assert daemon.metric("pfcpd_session_reports_sent_total", trigger="PERIO") >= 3
