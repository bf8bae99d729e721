"""Session state that is never lost: the journal in state_dir, kill -9 and restart, and a
change that cannot be made durable (cause 77, nothing kept)."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

from sessions_harness import needs_root, session_overrides

from pfcpd.pfcp import Cause, encode
from pfcpd.smfsim import rules
from pfcpd.smfsim.client import cause_of

pytestmark = needs_root


def show(daemon: Any, what: str) -> Any:
    proc = daemon.cli("show", what, "--json", "--config", str(daemon.config_path))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# The SMF simulator answers pfcpd's heartbeats only while it waits for an answer; across a
# kill -9, a restart and the `pfcpd show` runs after it (each a Python start-up) the pause
# can pass the harness's 8 s on a loaded machine, and the restored association would be
# lost: 20 s here.
_SLOW_LOSS = {"pfcp": {"t1": 5, "n1": 3}}


def test_kill_9_and_restart_brings_every_session_back(start_pfcpd: Any, smf: Any) -> None:
    daemon = start_pfcpd(session_overrides(pool="198.18.9.0/27", extra=_SLOW_LOSS))
    cp = smf(daemon)
    cp.associate()
    sessions = [cp.establish(rules.session_rules(gnb_teid=0x100 + i)) for i in range(20)]
    cp.delete(sessions[3].up_seid)  # a deleted one stays deleted
    before = show(daemon, "sessions")["sessions"]
    recovery = daemon.state_file()["recovery_time_stamp"]
    assert len(before) == 19
    daemon.signal(signal.SIGKILL)
    assert daemon.proc is not None and daemon.proc.wait(10) == -signal.SIGKILL
    daemon.proc = None
    daemon.start()
    assert daemon.state_file()["recovery_time_stamp"] == recovery
    after = show(daemon, "sessions")["sessions"]
    keep = ("up_seid", "cp_seid", "cp_node_id", "pdrs", "fars", "qers", "teids", "ue_addresses")

    def essence(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(({k: s[k] for k in keep} for s in views), key=lambda s: s["up_seid"])

    assert essence(after) == essence(before)
    (assoc,) = show(daemon, "associations")["associations"]
    assert assoc["node_id"] == "smf.test"
    assert daemon.metric("pfcpd_sessions_active") == 19
    # Allocations are back too: a new session gets neither a used UE address nor TEID.
    new = cp.establish(rules.session_rules())
    used_ue = {a for s in after for a in s["ue_addresses"]}
    used_teids = {t for s in after for t in s["teids"]}
    assert f"{new.ue_addresses[0]}/32" not in used_ue
    assert new.teids[1][1] not in used_teids
    # Nor those of the session deleted before the kill: the allocators' order survives it.
    gone = sessions[3]
    assert new.ue_addresses[0] != gone.ue_addresses[0] and new.teids[1][1] != gone.teids[1][1]
    assert new.up_seid != gone.up_seid
    # The restored sessions answer to their SEIDs.
    assert cause_of(cp.delete(sessions[0].up_seid)) == Cause.REQUEST_ACCEPTED
    assert daemon.metric("pfcpd_sessions_active") == 19


def test_a_change_that_cannot_be_made_durable_is_refused_with_77(
    start_pfcpd: Any, smf: Any, tmp_path: Path
) -> None:
    """state_dir on a 1 MiB tmpfs: filled up, the journal's write fails; the establishment
    gets 77 and leaves nothing behind (no session, its UE address free again)."""
    state = tmp_path / "small"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(state)], check=True)
    try:
        over = session_overrides(pool="198.18.10.0/29")
        over["state_dir"] = str(state)
        daemon = start_pfcpd(over)
        cp = smf(daemon)
        cp.associate()
        first = cp.establish(rules.session_rules())
        filler = state / "filler"
        subprocess.run(
            ["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True, check=False
        )
        answer = cp.establish_raw(rules.session_rules())
        assert cause_of(answer) == Cause.SYSTEM_FAILURE
        assert [s["up_seid"] for s in show(daemon, "sessions")["sessions"]] == [first.up_seid]
        assert daemon.metric("pfcpd_session_journal_failures_total") >= 1
        # A burst (journaled together, in one or a few batches): every request is refused,
        # the deletion included, and nothing of it is kept.
        burst = [
            rules.establishment_request(cp.node_id, cp.address[0], 0x700 + i, rules.session_rules())
            for i in range(4)
        ] + [rules.deletion_request(first.up_seid)]
        for i, msg in enumerate(burst):
            msg.seq = 0x7000 + i
            cp.sock.sendto(encode(msg), cp.upf)
        answers = {}
        while len(answers) < len(burst) and (msg := cp.receive(5.0)) is not None:
            answers[msg.seq] = cause_of(msg)
        assert answers == {0x7000 + i: Cause.SYSTEM_FAILURE for i in range(len(burst))}
        assert [s["up_seid"] for s in show(daemon, "sessions")["sessions"]] == [first.up_seid]
        filler.unlink()
        second = cp.establish(rules.session_rules())
        assert second.ue_addresses == ["198.18.10.2"]  # the refused ones' addresses were freed
        assert daemon.stop() == 0
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def test_sessions_of_a_released_or_restarted_cp_go_for_good(start_pfcpd: Any, smf: Any) -> None:
    """Association Release deletes the CP's sessions, a CP restart (new Recovery Time
    Stamp) purges them (on_peer_restart: purge): from the datapath and from the journal, so
    a restart of pfcpd brings none back."""
    daemon = start_pfcpd(session_overrides(pool="198.18.14.0/28", extra=_SLOW_LOSS))
    released = smf(daemon, node_id="smf.one")
    released.associate()
    for _ in range(2):
        released.establish(rules.session_rules())
    restarting = smf(daemon, node_id="smf.two")
    restarting.associate()
    restarting.establish(rules.session_rules())
    kept = smf(daemon, node_id="smf.three")
    kept.associate()
    survivor = kept.establish(rules.session_rules())
    assert len(show(daemon, "sessions")["sessions"]) == 4
    assert cause_of(released.release()) == Cause.REQUEST_ACCEPTED
    restarting.recovery_time_stamp += 10
    restarting.associate()
    views = show(daemon, "sessions")["sessions"]
    assert [s["up_seid"] for s in views] == [survivor.up_seid]
    daemon.signal(signal.SIGKILL)
    assert daemon.proc is not None and daemon.proc.wait(10) == -signal.SIGKILL
    daemon.proc = None
    daemon.start()
    assert [s["up_seid"] for s in show(daemon, "sessions")["sessions"]] == [survivor.up_seid]


def test_pfds_are_journaled_and_restored(start_pfcpd: Any, smf: Any) -> None:
    """A PDR naming an application needs its PFDs (81 without); the PFDs survive kill -9."""
    daemon = start_pfcpd(session_overrides(pool="198.18.15.0/28", extra=_SLOW_LOSS))
    cp = smf(daemon)
    cp.associate()
    with_app = [*rules.session_rules(), rules.application_dl_pdr(3, 2, "web")]
    assert cause_of(cp.establish_raw(with_app)) == Cause.UNKNOWN_APPLICATION_ID
    request = rules.pfd_management_request("web", ["permit out 17 from any 443 to assigned"])
    assert cause_of(cp.request(request)) == Cause.REQUEST_ACCEPTED
    cp.establish(with_app)
    daemon.signal(signal.SIGKILL)
    assert daemon.proc is not None and daemon.proc.wait(10) == -signal.SIGKILL
    daemon.proc = None
    daemon.start()
    cp.establish(with_app)  # the PFDs came back with the sessions
    assert len(show(daemon, "sessions")["sessions"]) == 2


def test_a_lost_node_state_discards_the_journal(start_pfcpd: Any, smf: Any) -> None:
    """Without node_state.json pfcpd takes a new Recovery Time Stamp, which tells the SMFs
    its sessions are gone: so the journal's sessions are not brought back either."""
    daemon = start_pfcpd(session_overrides(pool="198.18.16.0/28"))
    cp = smf(daemon)
    cp.associate()
    old = cp.establish(rules.session_rules())
    recovery = daemon.state_file()["recovery_time_stamp"]
    assert daemon.stop() == 0
    (daemon.tmp / "state" / "node_state.json").unlink()
    # At once, perhaps within the second of the first start: the stamp differs all the same.
    daemon.start()
    assert daemon.state_file()["recovery_time_stamp"] != recovery
    assert show(daemon, "sessions")["sessions"] == []
    assert show(daemon, "associations")["associations"] == []
    # The allocators' marks are kept: the session established again (the SMF's answer to
    # the new stamp) gets neither the old one's UE address nor its TEID, which its peers
    # may still send to.
    cp = smf(daemon)
    cp.associate()
    new = cp.establish(rules.session_rules())
    assert new.ue_addresses[0] != old.ue_addresses[0] and new.teids[1][1] != old.teids[1][1]
