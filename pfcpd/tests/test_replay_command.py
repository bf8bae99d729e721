"""``pfcpd replay FILE --config CONFIG``: a capture's session requests replayed into the
session engine, each answer set beside the capture's; exit 0 when all agree, 1 when one
differs (the engine's reason under it), 2 when there is nothing to replay or the files
cannot be read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from docs_config import minimal_config_text
from oracles import require_pcaps

from pfcpd.pfcp import IE, Grouped, IEType, Message, MessageType, encode
from pfcpd.pfcp import ies_address as A
from pfcpd.pfcp import ies_scalar as S
from pfcpd.smfsim import rules

T = IEType
M = MessageType


def run(tmp_path: Path, capture: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "pfcpd.yaml"
    config.write_text(minimal_config_text())
    return subprocess.run(
        [sys.executable, "-m", "pfcpd.cli", "replay", str(capture), "--config", str(config)],
        capture_output=True,
        text=True,
    )


def test_a_public_capture_agrees(tmp_path: Path) -> None:
    proc = run(tmp_path, require_pcaps() / "pfcp-upf-smf-sessions.pcap")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "frame 5 session_establishment_request seq 183: cause 1, agrees"
    assert lines[-1] == "5 request(s) replayed: 5 agree, 0 differ"


def test_a_refused_request_differs_with_its_reason(tmp_path: Path) -> None:
    """An establishment whose uplink F-TEID the CP allocated (no CH): pfcpd allocates every
    F-TEID (FTUP), 71; the capture's UP function accepted it."""
    session = rules.session_rules()
    pdi = session[0].get(T.PDI)
    assert isinstance(pdi, Grouped)
    pdi.ies = [A.FTEID(0x1234, "127.0.0.1") if ie.type == T.F_TEID else ie for ie in pdi.ies]
    request = rules.establishment_request("smf.example", "127.0.0.2", 7, session, seq=41)
    accepted = Message(
        M.SESSION_ESTABLISHMENT_RESPONSE,
        41,
        [A.NodeID.from_text("upf.example"), S.Cause(1), A.FSEID(9, "127.0.0.1")],
        seid=7,
    )
    capture = tmp_path / "capture.hex"
    capture.write_text(f"{encode(request).hex()}\n{encode(accepted).hex()}\n")
    proc = run(tmp_path, capture)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    first, reason, summary = proc.stdout.splitlines()
    assert first == (
        "frame 1 session_establishment_request seq 41: cause 71,"
        " differs: cause 71 where the capture has 1"
    )
    assert reason.startswith("  session_establishment_request seq 41 refused:")
    assert reason.endswith("(cause 71)")
    assert summary == "1 request(s) replayed: 0 agree, 1 differ"


def test_a_request_the_capture_does_not_answer_is_listed_not_compared(tmp_path: Path) -> None:
    request = rules.establishment_request("smf.example", "127.0.0.2", 7, rules.session_rules())
    capture = tmp_path / "requests.hex"
    capture.write_text(encode(request).hex() + "\n")
    proc = run(tmp_path, capture)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        "frame 1 session_establishment_request seq 0: cause 1,"
        " the capture has no answer to compare with",
        "1 request(s) replayed: 0 agree, 0 differ, 1 without an answer in the capture",
    ]


def test_nothing_to_replay_or_no_capture_is_2(tmp_path: Path) -> None:
    heartbeat = Message(M.HEARTBEAT_REQUEST, 3, [S.RecoveryTimeStamp(3_900_000_000)])
    capture = tmp_path / "heartbeat.hex"
    capture.write_text(encode(heartbeat).hex() + "\n")
    proc = run(tmp_path, capture)
    assert proc.returncode == 2 and "no session request to replay" in proc.stderr
    proc = run(tmp_path, tmp_path / "absent.pcap")
    assert proc.returncode == 2 and "absent.pcap" in proc.stderr


def _write_pcap(path: Path, datagrams: list[tuple[str, str, Message]]) -> None:
    """``datagrams`` (source, destination, message) as a pcap of UDP 8805 <-> 8805."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    frames = [
        Ether() / IP(src=src, dst=dst) / UDP(sport=8805, dport=8805) / encode(msg)
        for src, dst, msg in datagrams
    ]
    wrpcap(str(path), frames)


def _accepted(seq: int, cp_seid: int, up: str, up_seid: int, m: int) -> Message:
    ies: list[IE] = [S.Cause(1)]
    if m == M.SESSION_ESTABLISHMENT_RESPONSE:
        ies = [A.NodeID.from_text(up), S.Cause(1), A.FSEID(up_seid, up)]
    return Message(m, seq, ies, seid=cp_seid)


def test_two_cps_with_the_same_sequence_numbers_and_seids(tmp_path: Path) -> None:
    """An SGW-C (127.0.0.3, to its SGW-U 127.0.0.6) and a PGW-C (127.0.0.4, to its UPF
    127.0.0.7) in one capture, numbering alike (sequence 3, 4, 5; both UP functions gave
    SEID 1): each request is replayed once, against its own CP's answer, and each
    modification and deletion reaches the session its CP established."""
    datagrams: list[tuple[str, str, Message]] = []
    for cp, up in (("127.0.0.3", "127.0.0.6"), ("127.0.0.4", "127.0.0.7")):
        est = rules.establishment_request(cp, cp, 1, rules.session_rules(), seq=3)
        datagrams += [
            (cp, up, est),
            (up, cp, _accepted(3, 1, up, 1, M.SESSION_ESTABLISHMENT_RESPONSE)),
        ]
    for cp, up in (("127.0.0.4", "127.0.0.7"), ("127.0.0.3", "127.0.0.6")):
        far = rules.update_dl_far(2, 0x9000, "192.0.2.10")
        datagrams += [
            (cp, up, rules.modification_request(1, [far], seq=4)),
            (up, cp, _accepted(4, 1, up, 1, M.SESSION_MODIFICATION_RESPONSE)),
            (cp, up, rules.deletion_request(1, seq=5)),
            (up, cp, _accepted(5, 1, up, 1, M.SESSION_DELETION_RESPONSE)),
        ]
    capture = tmp_path / "two-cps.pcap"
    _write_pcap(capture, datagrams)
    proc = run(tmp_path, capture)
    # (the deletion answers of the capture carry no Usage Report: pfcpd's do, so they differ)
    lines = [line for line in proc.stdout.splitlines() if not line.startswith(" ")]
    assert [line.split(":")[0] for line in lines[:-1]] == [
        "frame 1 session_establishment_request seq 3",
        "frame 3 session_establishment_request seq 3",
        "frame 5 session_modification_request seq 4",
        "frame 7 session_deletion_request seq 5",
        "frame 9 session_modification_request seq 4",
        "frame 11 session_deletion_request seq 5",
    ]
    assert all(": cause 1," in line for line in lines[:-1]), proc.stdout


def test_an_undecodable_request_is_answered_with_the_codecs_cause(tmp_path: Path) -> None:
    """A Create PDR without its Precedence (mandatory: TS 29.244 Table 7.5.2.2-1): the node
    answers 66 with the Offending IE, and the replay says why."""
    session = rules.session_rules()
    pdr = session[0]
    assert isinstance(pdr, Grouped)
    pdr.ies = [ie for ie in pdr.ies if ie.type != T.PRECEDENCE]
    est = rules.establishment_request("127.0.0.3", "127.0.0.3", 1, session, seq=3)
    accepted = _accepted(3, 1, "127.0.0.6", 1, M.SESSION_ESTABLISHMENT_RESPONSE)
    capture = tmp_path / "no-precedence.pcap"
    _write_pcap(capture, [("127.0.0.3", "127.0.0.6", est), ("127.0.0.6", "127.0.0.3", accepted)])
    proc = run(tmp_path, capture)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    first, reason, summary = proc.stdout.splitlines()
    assert first == (
        "frame 1 session_establishment_request seq 3: cause 66,"
        " differs: cause 66 where the capture has 1"
    )
    assert reason.startswith("  not decoded: mandatory IE precedence missing, at create_pdr")
    assert summary == "1 request(s) replayed: 0 agree, 1 differ"


def test_what_the_cp_gave_and_the_capture_gives_back_is_no_allocation(tmp_path: Path) -> None:
    """The capture's UP function lists, in its Created PDRs, the UE address the CP gave (no
    CHV4) besides the F-TEID it chose: only the F-TEID, asked for with CH, is compared."""
    session = rules.session_rules()
    for pdr in session[:2]:
        assert isinstance(pdr, Grouped)
        pdi = pdr.get(T.PDI)
        assert isinstance(pdi, Grouped)
        pdi.ies = [
            A.UEIPAddress("10.45.9.9", source=pdr is session[0])
            if ie.type == T.UE_IP_ADDRESS
            else ie
            for ie in pdi.ies
        ]
    est = rules.establishment_request("127.0.0.3", "127.0.0.3", 1, session, seq=3)
    accepted = _accepted(3, 1, "127.0.0.6", 1, M.SESSION_ESTABLISHMENT_RESPONSE)
    for pdr_id, ies in ((1, [A.FTEID(0x77, "127.0.0.6")]), (2, [])):
        given = A.UEIPAddress("10.45.9.9", source=pdr_id == 1)
        accepted.ies.append(Grouped(T.CREATED_PDR, [S.PDRID(pdr_id), *ies, given]))
    capture = tmp_path / "echo.pcap"
    _write_pcap(capture, [("127.0.0.3", "127.0.0.6", est), ("127.0.0.6", "127.0.0.3", accepted)])
    proc = run(tmp_path, capture)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0].endswith("cause 1, agrees")
