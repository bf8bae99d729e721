"""The public captures in ../shared/pcaps: real traffic decodes and re-encodes byte for byte;
the random corpus never crashes or hangs the decoder."""

from __future__ import annotations

import contextlib

import pytest
from oracles import pycrate_error, require_pcaps

from pfcpd.capture import read_datagrams
from pfcpd.pfcp import CodecError, decode_datagram, encode_datagram

REAL_CAPTURES = [
    "pfcp-assoc-4frames.pcap",
    "pfcp-2packets.pcap",
    "pfcp-ready.pcapng",
    "pfcp-upf-smf-sessions.pcap",
    "pfcp-ue-init-with-usage-report.pcap",
    "pfcp-during-traffic.pcap",
    "pfcp-5gsa-pdu-establishment.pcap",
    "pfcp-open5gs-smf-upf-association.pcap",
]


@pytest.mark.parametrize("name", REAL_CAPTURES)
def test_real_capture_decodes_and_reencodes_exactly(name: str) -> None:
    path = require_pcaps() / name
    datagrams = list(read_datagrams(str(path)))
    assert datagrams, f"no PFCP datagram found in {name}"
    for dgram in datagrams:
        messages = decode_datagram(dgram.payload)
        assert encode_datagram(messages) == dgram.payload, f"frame {dgram.frame}"


def test_random_corpus_decodes_or_fails_with_codec_error_only() -> None:
    path = require_pcaps() / "pfcp-random-2000-robustness.pcap"
    outcomes = {"ok": 0, "error": 0}
    causes = set()
    for dgram in read_datagrams(str(path)):
        try:
            decode_datagram(dgram.payload)
            outcomes["ok"] += 1
        except CodecError as exc:
            outcomes["error"] += 1
            causes.add(exc.cause)
    assert sum(outcomes.values()) == 2000
    # Mostly invalid by construction (pycrate finds missing mandatory IEs in 1606).
    assert outcomes["error"] >= 1606
    assert 66 in causes


def test_random_corpus_where_pycrate_disagrees() -> None:
    """Where pycrate and we disagree on the random corpus, TS 29.244 clause 7.6 decides:
    - pycrate accepts, we reject: a grouped IE, where it is expected, misses a mandatory
      child (7.6.6: cause 66); pycrate keeps such a nested group as raw octets;
    - pycrate rejects, we accept: pycrate decoded an IE that is not expected where it sits
      and failed on it; we ignore such IEs (7.6.9) and report them."""
    pytest.importorskip("pycrate_mobile", reason="pycrate is not installed")
    path = require_pcaps() / "pfcp-random-2000-robustness.pcap"
    agreed = 0
    for dgram in read_datagrams(str(path)):
        verdict = pycrate_error(dgram.payload)
        try:
            messages = decode_datagram(dgram.payload)
            error = None
        except CodecError as exc:
            error = exc
        if verdict is None and error is not None:
            assert error.cause == 66 and error.path, f"frame {dgram.frame}: {error}"
        elif verdict is not None and error is None:
            assert any(m.ignored for m in messages), f"frame {dgram.frame}: {verdict}"
        else:
            agreed += 1
    assert agreed >= 1900  # measured: 1933 of 2000


def test_mutated_real_messages_never_raise_anything_else() -> None:
    import random

    path = require_pcaps() / "pfcp-5gsa-pdu-establishment.pcap"
    seeds = [d.payload for d in read_datagrams(str(path))]
    rng = random.Random(1234)
    for _ in range(5000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(len(data)) :]
        with contextlib.suppress(CodecError):
            decode_datagram(bytes(data))
