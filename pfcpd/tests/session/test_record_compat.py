"""Records written before the rules were deflated at level 3 (`packing`; up to 2026-12-03 at
level 6) restore as they were: the session keeps the stored bytes of its rules and writes
its record again byte for byte; an establishment now writes the same record but for those
bytes, which read back to the same rules."""

from __future__ import annotations

import base64
import json

from session_harness import Harness, dl_far, dl_pdr, qer, restarted, ul_far, ul_pdr, up_seid, urr

from pfcpd.pfcp import IE, Grouped, encode_groups
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp import ies_traffic as TR
from pfcpd.session.packing import pack_rules, unpack_rules

# What this establishment journaled with the code of 2026-12-03 (commit ce69ebc, level 6).
OLD_RECORD = (
    b'{"v":2,"up_seid":1,"cp_seid":12648430,"cp_node_id":"smf","cp_fseid":"0039000d0200000000'
    b'00c0ffee7f000002","rz":"AyoLRwnME0C2BlJgAg06wMCELTB1gWpICscT+MIRZBqtw5GRAegVTmA4CqGGIzTk'
    b'THGGHDiwGGwYtoJoRh0GT6SQBAA=","teids":[1],"ue":[["internet","10.45.0.1/32"]],"urrs":{"1":'
    b'{"seqn":0,"baseline":[0,0,0,0,0,0],"consumed":[0,0,0,0,0,0],"start":3950000000.0,"meteri'
    b'ng":0.0,"validity":3950000300.0,"expired":false,"inactive":false}},"bar_duration":null,"e'
    b'stablished":3950000000.0,"fq_csids":"","group_id":null}'
)


def _book(threshold: bool = True) -> Grouped:
    """The URR of the old record; with ``threshold`` the Volume Threshold its VOLTH needs
    (a request without it is refused with 67 since: `test_rule_values.py`)."""
    values: dict[str, IE] = {"period": S.MeasurementPeriod(60)}
    if threshold:
        values["v"] = TR.VolumeThreshold(total=10**9)
    values["validity"] = S.QuotaValidityTime(300)
    values["quota"] = TR.VolumeQuota(total=10**9)
    return urr(1, "VOLTH", "PERIO", **values)


def _old_rules_now(old_rules: bytes) -> bytes:
    """The old record's rules as an establishment gives them now: its URR with the
    threshold."""
    before, now = encode_groups([_book(False)]), encode_groups([_book()])
    assert old_rules.count(before) == 1
    return old_rules.replace(before, now)


def _establish(h: Harness) -> int:
    return up_seid(h.establish(ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(), _book()))


def test_an_establishment_writes_the_old_record_but_for_the_rules_bytes(h: Harness) -> None:
    seid = _establish(h)
    session = h.engine.sessions[seid]
    record = json.loads(h.journal.records[session.key])
    old = json.loads(OLD_RECORD)
    old_rz, new_rz = base64.b64decode(old.pop("rz")), base64.b64decode(record.pop("rz"))
    assert record == old
    assert unpack_rules(new_rz) == _old_rules_now(unpack_rules(old_rz))
    assert new_rz == session.rules_blob == pack_rules(_old_rules_now(unpack_rules(old_rz)))
    assert new_rz != old_rz  # (another level: else this test checks nothing)


def test_an_old_record_restores_and_is_written_again_byte_for_byte(h: Harness) -> None:
    seid = _establish(h)
    key = h.engine.sessions[seid].key
    fresh = h.engine.sessions[seid]
    h.journal.records[key] = OLD_RECORD
    with restarted(h, 1) as engine:
        again = engine.sessions[seid]
        assert again.rules_blob == base64.b64decode(json.loads(OLD_RECORD)["rz"])
        assert again.record() == OLD_RECORD
        assert _old_rules_now(unpack_rules(again.rules_blob)) == unpack_rules(fresh.rules_blob)
        assert again.urrs[1].to_json() == fresh.urrs[1].to_json()
        assert again.teids == fresh.teids and again.ue == fresh.ue
