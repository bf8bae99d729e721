"""A real ``pfcpd run`` on loopback, driven by a CP peer built from scapy and our codec."""

from __future__ import annotations

import os
import signal
import socket
import stat
import time

import pytest
from node_harness import CP_RECOVERY, cause_of

from pfcpd.pfcp import Cause, IEType, Message, MessageType, decode, encode
from pfcpd.pfcp.ies_address import FSEID, NodeID
from pfcpd.pfcp.ies_flags import CPFunctionFeatures, PFCPAssociationReleaseRequestFlags
from pfcpd.pfcp.ies_scalar import Cause as CauseIE
from pfcpd.pfcp.ies_scalar import OffendingIE, RecoveryTimeStamp

P = pytest.importorskip("scapy.contrib.pfcp", reason="scapy not installed (test extra)")
M = MessageType


def scapy_node(seq: int, body: object) -> bytes:
    return bytes(P.PFCP(version=1, S=0, seq=seq) / body)


def scapy_session(seq: int, seid: int, body: object) -> bytes:
    return bytes(P.PFCP(version=1, S=1, seid=seid, seq=seq) / body)


def scapy_establishment(seq: int, cp_seid: int) -> bytes:
    pdr = P.IE_CreatePDR(
        IE_list=[
            P.IE_PDR_Id(id=1),
            P.IE_Precedence(precedence=100),
            P.IE_PDI(IE_list=[P.IE_SourceInterface(interface=0)]),
            P.IE_FAR_Id(id=1),
        ]
    )
    far = P.IE_CreateFAR(IE_list=[P.IE_FAR_Id(id=1), P.IE_ApplyAction(FORW=1)])
    body = P.PFCPSessionEstablishmentRequest(
        IE_list=[
            P.IE_NodeId(id_type=2, id="smf.test"),
            P.IE_FSEID(v4=1, seid=cp_seid, ipv4="127.0.0.1"),
            pdr,
            far,
        ]
    )
    return scapy_session(seq, 0, body)


def test_cp_initiated_setup_update_release(start_pfcpd, make_peer):
    daemon = start_pfcpd()
    peer = make_peer(daemon.addr)
    setup = scapy_node(
        7,
        P.PFCPAssociationSetupRequest(
            IE_list=[
                P.IE_NodeId(id_type=2, id="smf.test"),
                P.IE_RecoveryTimeStamp(timestamp=CP_RECOVERY),
                P.IE_CPFunctionFeatures(LOAD=1),
            ]
        ),
    )
    peer.send(setup)
    raw = peer.expect_raw(7)
    # scapy reads our answer too, not only our own codec.
    answer = P.PFCP(raw)
    assert answer.message_type == M.ASSOCIATION_SETUP_RESPONSE and answer.S == 0
    ies = {type(ie).__name__: ie for ie in answer.payload.IE_list}
    assert ies["IE_Cause"].cause == Cause.REQUEST_ACCEPTED
    assert ies["IE_NodeId"].ipv4 == "127.0.0.1"
    assert ies["IE_RecoveryTimeStamp"].timestamp == daemon.state_file()["recovery_time_stamp"]
    # The session engine's features (pfcpd.session): F-TEID allocation at least.
    assert ies["IE_UPFunctionFeatures"].FTUP == 1

    [assoc] = daemon.associations()
    assert (assoc["node_id"], assoc["state"], assoc["initiator"]) == (
        "smf.test",
        "established",
        "cp",
    )
    assert assoc["cp_recovery_time_stamp"] == CP_RECOVERY
    assert assoc["cp_features"] == CPFunctionFeatures.of("LOAD").flags
    table = daemon.cli("show", "associations", "--socket", str(daemon.tmp / "admin.sock"))
    assert table.returncode == 0 and "smf.test" in table.stdout and "established" in table.stdout
    assert daemon.metric("pfcpd_associations") == 1

    update = peer.request(
        Message(
            M.ASSOCIATION_UPDATE_REQUEST,
            0,
            [NodeID.from_text("smf.test"), CPFunctionFeatures.of("LOAD", "OVRL")],
        )
    )
    assert cause_of(update) == Cause.REQUEST_ACCEPTED
    assert update.get(IEType.NODE_ID) == NodeID.from_text("127.0.0.1")
    assert daemon.associations()[0]["cp_features"] == CPFunctionFeatures.of("LOAD", "OVRL").flags

    release = peer.request(
        Message(M.ASSOCIATION_RELEASE_REQUEST, 0, [NodeID.from_text("smf.test")])
    )
    assert cause_of(release) == Cause.REQUEST_ACCEPTED
    assert daemon.associations() == []
    assert daemon.metric("pfcpd_associations_released_total", reason="cp_release") == 1

    # Without an association both are refused with cause 72.
    for msg_type in (M.ASSOCIATION_UPDATE_REQUEST, M.ASSOCIATION_RELEASE_REQUEST):
        again = peer.request(Message(msg_type, 0, [NodeID.from_text("smf.test")]))
        assert cause_of(again) == Cause.NO_ESTABLISHED_PFCP_ASSOCIATION


def test_up_initiated_setup_retried_and_release(start_pfcpd, make_peer):
    peer = make_peer(("127.0.0.1", 0))  # the SMF; bound before pfcpd starts sending to it
    cp_port = peer.addr[1]
    # T1 2 s: the release's Association Update Request stays unanswered while `pfcpd show`
    # (a new Python process: seconds on a loaded box) reads the state "releasing"; with the
    # default 0.5 s it timed out first (1.5 s with N1 2) and the state was back.
    pfcp = {"associate_to": [f"127.0.0.1:{cp_port}"], "graceful_release_period": 60, "t1": 2.0}
    daemon = start_pfcpd({"pfcp": pfcp})
    peer.target = daemon.addr

    first = peer.expect(M.ASSOCIATION_SETUP_REQUEST)
    assert first.get(IEType.NODE_ID) == NodeID.from_text("127.0.0.1")
    recovery = first.get(IEType.RECOVERY_TIME_STAMP)
    assert recovery == RecoveryTimeStamp(daemon.state_file()["recovery_time_stamp"])
    assert first.get(IEType.UP_FUNCTION_FEATURES) is not None  # the session engine's
    # Unanswered: retransmitted after T1 with the same sequence number ...
    again = peer.expect(M.ASSOCIATION_SETUP_REQUEST)
    assert again.seq == first.seq
    # ... and after N1 retransmissions, a new attempt (new sequence number) follows.
    while (msg := peer.expect(M.ASSOCIATION_SETUP_REQUEST, timeout=5)).seq == first.seq:
        pass
    assert daemon.metric("pfcpd_timeouts_total", type="association_setup_request") >= 1
    peer.accept_setup(msg)
    daemon.wait_metric("pfcpd_associations_established_total", 1, initiator="up")
    [assoc] = daemon.associations()
    assert (assoc["node_id"], assoc["initiator"], assoc["port"]) == ("smf.test", "up", cp_port)

    # UP-initiated release: Association Update Request with SARR, then the CP releases.
    cli = daemon.cli("release", "association", "smf.test", "--config", str(daemon.config_path))
    assert cli.returncode == 0, cli.stderr
    update = peer.expect(M.ASSOCIATION_UPDATE_REQUEST)
    flags = update.get(IEType.PFCP_ASSOCIATION_RELEASE_REQUEST)
    assert isinstance(flags, PFCPAssociationReleaseRequestFlags) and flags.has("SARR")
    grace = update.get(IEType.GRACEFUL_RELEASE_PERIOD)
    assert grace is not None and grace.seconds == 60  # type: ignore[attr-defined]
    assert daemon.associations()[0]["state"] == "releasing"
    peer.send(
        Message(
            M.ASSOCIATION_UPDATE_RESPONSE, update.seq, [NodeID.from_text("smf.test"), CauseIE(1)]
        )
    )
    daemon.wait_log(lambda e: e.get("event") == "ReleaseRequested" and e.get("accepted") is True)
    release = peer.request(
        Message(M.ASSOCIATION_RELEASE_REQUEST, 0, [NodeID.from_text("smf.test")])
    )
    assert cause_of(release) == Cause.REQUEST_ACCEPTED
    assert daemon.associations() == []


def test_setup_with_a_new_node_id_from_the_same_address_replaces_the_association(
    start_pfcpd, make_peer
):
    daemon = start_pfcpd()
    peer = make_peer(daemon.addr)
    assert cause_of(peer.associate()) == Cause.REQUEST_ACCEPTED
    peer.node_id = "smf-renamed.test"
    assert cause_of(peer.associate()) == Cause.REQUEST_ACCEPTED
    assert [a["node_id"] for a in daemon.associations()] == ["smf-renamed.test"]
    assert daemon.metric("pfcpd_associations_released_total", reason="replaced") == 1
    assert daemon.metric("pfcpd_associations") == 1
    daemon.wait_log(
        lambda e: e.get("event") == "AssociationReleased" and e.get("reason") == "replaced"
    )


def test_up_initiated_setup_to_a_dns_name(start_pfcpd, make_peer):
    """``associate_to`` may name the SMF; the name is resolved at run time (``localhost``:
    /etc/hosts, loopback only) and the setup goes to what it resolves to."""
    peer = make_peer(("127.0.0.1", 0))
    daemon = start_pfcpd({"pfcp": {"associate_to": [f"localhost:{peer.addr[1]}"]}})
    peer.target = daemon.addr
    request = peer.expect(M.ASSOCIATION_SETUP_REQUEST)
    peer.accept_setup(request)
    daemon.wait_metric("pfcpd_associations_established_total", 1, initiator="up")
    [assoc] = daemon.associations()
    assert (assoc["node_id"], assoc["address"], assoc["port"]) == (
        "smf.test",
        "127.0.0.1",
        peer.addr[1],
    )


def test_heartbeat_both_ways(start_pfcpd, make_peer):
    daemon = start_pfcpd({"pfcp": {"heartbeat_interval": 0.3}})
    peer = make_peer(daemon.addr)
    ts = daemon.state_file()["recovery_time_stamp"]
    # CP -> UP (no association needed), built with scapy.
    peer.send(scapy_node(9, P.PFCPHeartbeatRequest(IE_list=[P.IE_RecoveryTimeStamp(timestamp=1)])))
    answer = P.PFCP(peer.expect_raw(9))
    assert answer.message_type == M.HEARTBEAT_RESPONSE
    assert answer.payload.IE_list[0].timestamp == ts

    # UP -> CP once associated: pfcpd sends heartbeats every heartbeat_interval.
    peer.associate()
    peer.answer_heartbeats = False
    beats = []
    for _ in range(2):
        beat = peer.expect(M.HEARTBEAT_REQUEST, timeout=2)
        assert beat.get(IEType.RECOVERY_TIME_STAMP) == RecoveryTimeStamp(ts)
        peer.answer_heartbeat(beat)
        beats.append(beat)
    assert beats[1].seq == beats[0].seq + 1  # per-peer sequence numbers
    daemon.wait_metric("pfcpd_transactions_completed_total", 2, type="heartbeat_request")
    assert daemon.associations()[0]["last_heartbeat_ok_at"] is not None


def test_peer_loss_with_short_timers(start_pfcpd, make_peer):
    daemon = start_pfcpd({"pfcp": {"heartbeat_interval": 0.3, "t1": 0.2, "n1": 2}})
    peer = make_peer(daemon.addr)
    peer.associate()
    peer.answer_heartbeats = False
    first = peer.expect(M.HEARTBEAT_REQUEST, timeout=2)
    copies = [peer.expect(M.HEARTBEAT_REQUEST, timeout=2) for _ in range(2)]  # N1 = 2
    assert [c.seq for c in copies] == [first.seq, first.seq]
    daemon.wait_metric("pfcpd_peers_lost_total", 1, timeout=3)
    daemon.wait_log(lambda e: e.get("event") == "PeerLost" and e.get("node_id") == "smf.test")
    assert daemon.associations() == []  # graceful_release_period 0: released at once
    assert daemon.metric("pfcpd_associations_released_total", reason="lost") == 1
    assert daemon.metric("pfcpd_retransmissions_total", type="heartbeat_request") == 2


def test_retransmitted_request_gets_cached_response_and_one_effect(start_pfcpd, make_peer):
    daemon = start_pfcpd()
    peer = make_peer(daemon.addr)
    setup = encode(
        Message(
            M.ASSOCIATION_SETUP_REQUEST,
            42,
            [NodeID.from_text("smf.test"), RecoveryTimeStamp(CP_RECOVERY)],
        )
    )
    peer.send(setup)
    first = peer.expect_raw(42)
    peer.send(setup)
    assert peer.expect_raw(42) == first
    assert daemon.metric("pfcpd_associations_established_total", initiator="cp") == 1
    assert daemon.metric("pfcpd_duplicate_requests_total", type="association_setup_request") == 1

    release = encode(Message(M.ASSOCIATION_RELEASE_REQUEST, 43, [NodeID.from_text("smf.test")]))
    peer.send(release)
    released = peer.expect_raw(43)
    peer.send(release)  # a second deletion would say 72; the cache says "accepted" again
    assert peer.expect_raw(43) == released
    assert cause_of(decode(released)) == Cause.REQUEST_ACCEPTED
    assert daemon.metric("pfcpd_requests_handled_total", type="association_release_request") == 1


def test_version_2_unknown_type_truncated(start_pfcpd, make_peer):
    daemon = start_pfcpd()
    peer = make_peer(daemon.addr)
    heartbeat = bytearray(encode(Message(M.HEARTBEAT_REQUEST, 77, [RecoveryTimeStamp(1)])))
    heartbeat[0] = (heartbeat[0] & 0x1F) | (2 << 5)  # version 2
    peer.send(bytes(heartbeat))
    vns = P.PFCP(peer.expect_raw(77))
    assert vns.version == 1 and vns.message_type == M.VERSION_NOT_SUPPORTED_RESPONSE
    assert decode(bytes(vns)).ies == []
    sent = daemon.metric(
        "pfcpd_messages_sent_total", type="version_not_supported_response", cause="none"
    )
    assert sent == 1

    unknown = bytearray(encode(Message(M.HEARTBEAT_REQUEST, 78, [RecoveryTimeStamp(1)])))
    unknown[1] = 99
    peer.send(bytes(unknown))
    peer.send(b"\x20\x01\x00")  # too short for a header
    peer.send(bytes(heartbeat[:6]))  # truncated version-2 header
    peer.expect_silence(0.5)
    assert daemon.metric("pfcpd_datagrams_dropped_total", reason="unknown_type") == 1
    assert daemon.metric("pfcpd_datagrams_dropped_total", reason="too_short") == 2
    # Still alive and answering.
    assert peer.request(Message(M.HEARTBEAT_REQUEST, 0, [RecoveryTimeStamp(1)])).seq


def test_decoding_error_gets_cause_and_offending_ie(start_pfcpd, make_peer):
    daemon = start_pfcpd()
    peer = make_peer(daemon.addr)
    # Association Setup Request without its mandatory Recovery Time Stamp.
    answer = peer.request(Message(M.ASSOCIATION_SETUP_REQUEST, 0, [NodeID.from_text("smf.x")]))
    assert answer.msg_type == M.ASSOCIATION_SETUP_RESPONSE
    assert cause_of(answer) == Cause.MANDATORY_IE_MISSING
    assert answer.get(IEType.NODE_ID) == NodeID.from_text("127.0.0.1")
    # TS 29.244 clause 7.2.3.2: Offending IE only where the response has one, which the
    # Association Setup Response does not (a Session Set Deletion Response does).
    assert answer.get(IEType.OFFENDING_IE) is None
    assert daemon.associations() == []
    answer = peer.request(Message(M.SESSION_SET_DELETION_REQUEST, 0, []))
    assert answer.msg_type == M.SESSION_SET_DELETION_RESPONSE
    assert cause_of(answer) == Cause.MANDATORY_IE_MISSING
    assert answer.get(IEType.OFFENDING_IE) == OffendingIE(IEType.NODE_ID)


def test_session_messages_without_association_and_unknown_seid(start_pfcpd, make_peer):
    daemon = start_pfcpd()
    peer = make_peer(daemon.addr)
    peer.send(scapy_establishment(11, cp_seid=0xABCDEF))
    answer = decode(peer.expect_raw(11))
    assert answer.msg_type == M.SESSION_ESTABLISHMENT_RESPONSE
    assert cause_of(answer) == Cause.NO_ESTABLISHED_PFCP_ASSOCIATION
    assert answer.seid == 0xABCDEF  # the CP's SEID from its F-SEID
    deletion = peer.request(Message(M.SESSION_DELETION_REQUEST, 0, [], seid=5))
    assert cause_of(deletion) == Cause.NO_ESTABLISHED_PFCP_ASSOCIATION and deletion.seid == 0

    peer.associate()
    for msg_type in (M.SESSION_DELETION_REQUEST, M.SESSION_MODIFICATION_REQUEST):
        answer = peer.request(Message(msg_type, 0, [], seid=0x1234))
        assert cause_of(answer) == Cause.SESSION_CONTEXT_NOT_FOUND
        assert answer.seid == 0
    # The session engine has it: a FAR that forwards without Forwarding Parameters is
    # refused (conditional IE missing, TS 29.244 7.5.2.3), and no session is made.
    peer.send(scapy_establishment(12, cp_seid=0x77))
    answer = decode(peer.expect_raw(12))
    assert cause_of(answer) == Cause.CONDITIONAL_IE_MISSING
    assert answer.get(IEType.OFFENDING_IE) == OffendingIE(IEType.FORWARDING_PARAMETERS)
    assert answer.get(IEType.F_SEID) is None and answer.seid == 0x77
    assert not isinstance(answer.get(IEType.F_SEID), FSEID)


def test_allow_list_drop_and_reload(start_pfcpd, make_peer):
    daemon = start_pfcpd({"pfcp": {"allowed_peers": ["127.0.0.1/32"]}})
    inside = make_peer(daemon.addr)
    inside.associate()
    outside = make_peer(daemon.addr, host="127.0.0.2")
    for _ in range(3):
        outside.send(Message(M.HEARTBEAT_REQUEST, outside.next_seq(), [RecoveryTimeStamp(1)]))
    outside.expect_silence(0.5)
    assert daemon.metric("pfcpd_datagrams_dropped_total", reason="not_allowed") == 3
    drops = [e for e in daemon.log_events() if e.get("reason") == "not_allowed"]
    assert len(drops) == 1 and drops[0]["peer"] == "127.0.0.2"  # logging is rate-limited

    daemon.config["pfcp"]["allowed_peers"] = ["127.0.0.0/8"]
    daemon.config["logging"]["level"] = "info"
    daemon.write_config()
    daemon.signal(signal.SIGHUP)
    daemon.wait_log(lambda e: "reloaded" in e.get("message", ""))
    assert outside.request(Message(M.HEARTBEAT_REQUEST, 0, [RecoveryTimeStamp(1)]))
    assert [a["node_id"] for a in daemon.associations()] == ["smf.test"]  # kept

    # A reload that leaves an associated CP outside the list says so.
    daemon.config["pfcp"]["allowed_peers"] = ["127.0.0.2/32"]
    daemon.write_config()
    daemon.signal(signal.SIGHUP)
    warning = daemon.wait_log(lambda e: "outside pfcp.allowed_peers" in e.get("message", ""))
    assert "smf.test" in warning["message"] and warning["level"] == "warning"


def test_rate_limit(start_pfcpd, make_peer):
    daemon = start_pfcpd({"pfcp": {"rate_limit": {"requests_per_second": 0.01, "burst": 3}}})
    peer = make_peer(daemon.addr)
    for seq in range(1, 7):
        peer.send(Message(M.HEARTBEAT_REQUEST, seq, [RecoveryTimeStamp(1)]))
    answered = []
    while (data := peer.recv(0.5)) is not None:
        answered.append(decode(data).seq)
    assert answered == [1, 2, 3]
    assert daemon.metric("pfcpd_rate_limited_total") == 3


def test_ipv6_endpoint(start_pfcpd, make_peer):
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback (::1) on this machine")
    from node_harness import free_port

    port6 = free_port(host="::1")
    daemon = start_pfcpd({"pfcp": {"listen": [f"[::1]:{port6}"]}, "node_id": "::1"})
    peer = make_peer(("::1", port6), host="::1")
    answer = peer.associate()
    assert cause_of(answer) == Cause.REQUEST_ACCEPTED
    assert answer.get(IEType.NODE_ID) == NodeID.from_text("::1")
    assert daemon.associations()[0]["address"] == "::1"


def test_recovery_time_stamp_survives_restart_with_state(start_pfcpd, make_peer, tmp_path):
    daemon = start_pfcpd()
    peer = make_peer(daemon.addr)
    peer.associate()
    ts = daemon.state_file()["recovery_time_stamp"]
    assert daemon.stop() == 0
    assert daemon.state_file()["associations"][0]["node_id"] == "smf.test"

    daemon.start()  # same state_dir: same recovery time stamp, association restored
    answer = peer.request(Message(M.HEARTBEAT_REQUEST, 0, [RecoveryTimeStamp(CP_RECOVERY)]))
    assert answer.get(IEType.RECOVERY_TIME_STAMP) == RecoveryTimeStamp(ts)
    assert [a["node_id"] for a in daemon.associations()] == ["smf.test"]
    assert daemon.stop() == 0

    (daemon.tmp / "state" / "node_state.json").unlink()  # state lost
    second = int(time.time())
    while int(time.time()) == second:  # recovery time stamps have a resolution of 1 s
        time.sleep(0.05)
    daemon.start()
    answer = peer.request(Message(M.HEARTBEAT_REQUEST, 0, [RecoveryTimeStamp(CP_RECOVERY)]))
    new_ts = answer.get(IEType.RECOVERY_TIME_STAMP).value  # type: ignore[union-attr]
    assert new_ts > ts
    assert daemon.associations() == []


def test_a_restarted_pfcpd_does_not_reuse_its_sequence_numbers(start_pfcpd, make_peer):
    """After a restart that keeps the associations, pfcpd's requests must not reuse the
    sequence numbers of the last run: the CP may still hold its answers to those for
    retransmissions, and would answer a new request with an old answer."""
    daemon = start_pfcpd({"pfcp": {"heartbeat_interval": 0.3}})
    peer = make_peer(daemon.addr)
    peer.answer_heartbeats = False
    peer.associate()
    before = peer.expect(M.HEARTBEAT_REQUEST)
    peer.answer_heartbeat(before)
    assert daemon.stop() == 0
    daemon.start()  # the association is restored and probed at once
    after = peer.expect(M.HEARTBEAT_REQUEST)
    peer.answer_heartbeat(after)
    assert after.seq != before.seq  # (random start: equal once in 2**24 runs)


def test_peer_restart_detected(start_pfcpd, make_peer):
    daemon = start_pfcpd()
    peer = make_peer(daemon.addr)
    peer.associate()
    peer.request(Message(M.HEARTBEAT_REQUEST, 0, [RecoveryTimeStamp(CP_RECOVERY + 100)]))
    daemon.wait_metric("pfcpd_peer_restarts_total", 1)
    event = daemon.wait_log(lambda e: e.get("event") == "PeerRestarted")
    assert event["new_time_stamp"] == CP_RECOVERY + 100 and event["sessions_kept"] is False
    assert daemon.associations()[0]["cp_recovery_time_stamp"] == CP_RECOVERY + 100


def test_sigterm_finishes_in_flight_transactions_and_saves_state(start_pfcpd, make_peer):
    daemon = start_pfcpd({"pfcp": {"heartbeat_interval": 0.3, "t1": 0.3, "n1": 3}})
    peer = make_peer(daemon.addr)
    peer.associate()
    admin = daemon.tmp / "admin.sock"
    assert stat.S_IMODE(os.stat(admin).st_mode) == 0o600  # root-only admin endpoint
    peer.answer_heartbeats = False
    beat = peer.expect(M.HEARTBEAT_REQUEST, timeout=2)
    daemon.signal(signal.SIGTERM)
    time.sleep(0.4)  # pfcpd is draining: it retransmits its heartbeat, sends no new request
    retransmitted = peer.expect(M.HEARTBEAT_REQUEST, timeout=2)
    assert retransmitted.seq == beat.seq
    peer.answer_heartbeat(beat)
    assert daemon.proc is not None
    assert daemon.proc.wait(3) == 0  # well before drain_timeout + N1 * T1
    daemon.proc = None
    logged = daemon.log()
    assert "stopping: finishing 1 transaction(s) in flight" in logged
    assert "unfinished at shutdown" not in logged
    saved = daemon.state_file()["associations"]
    assert [a["node_id"] for a in saved] == ["smf.test"] and saved[0]["last_heartbeat_ok_at"]
    assert not admin.exists()
