"""An SMF simulator (pfcpd.smfsim) drives a real `pfcpd run` with the local datapath over
loopback: sessions over PFCP, their effect in the datapath (`pfcpd show sessions`), the
journal in state_dir, metrics. Every datagram pfcpd sends is checked by tshark."""

from __future__ import annotations

import json
from typing import Any

from sessions_harness import needs_root, session_overrides

from pfcpd.pfcp import Cause, IEType
from pfcpd.smfsim import rules
from pfcpd.smfsim.client import cause_of

pytestmark = needs_root


def show_sessions(daemon: Any, *args: str) -> list[dict[str, Any]]:
    proc = daemon.cli("show", "sessions", "--json", "--config", str(daemon.config_path), *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["sessions"]


def test_establish_modify_delete(start_pfcpd, smf) -> None:
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
    answer = cp.modify(est.up_seid, [rules.update_dl_far(2, 0x200, "192.0.2.10")])
    assert cause_of(answer) == Cause.REQUEST_ACCEPTED
    (view,) = show_sessions(daemon)
    assert view["fars"]["2"]["outer_header_creation"] == ["192.0.2.10", 0x200]
    answer = cp.delete(est.up_seid)
    assert cause_of(answer) == Cause.REQUEST_ACCEPTED
    assert answer.get(IEType.USAGE_REPORT_DELETION_RESPONSE) is not None
    assert show_sessions(daemon) == []
    assert daemon.metric("pfcpd_sessions_active") == 0
