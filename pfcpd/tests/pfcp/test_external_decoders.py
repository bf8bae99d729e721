"""Our encodings checked by decoders we did not write: tshark and pycrate."""

from __future__ import annotations

import pytest
from oracles import PYCRATE_UNKNOWN_TYPES, pycrate_error, tshark_fields, tshark_problems
from sample_messages import all_samples, session_establishment_request_full, typed_ie_classes_in

from pfcpd.pfcp import decode, encode
from pfcpd.pfcp.ie import DECODERS

SAMPLES = all_samples()


def test_samples_use_every_typed_ie_class() -> None:
    registered = {decoder.__self__ for decoder in DECODERS.values()}  # type: ignore[attr-defined]
    missing = registered - typed_ie_classes_in(SAMPLES)
    assert not missing, sorted(c.__name__ for c in missing)


def test_samples_cover_every_message_type() -> None:
    from pfcpd.pfcp import MessageType

    assert {m.msg_type for m in SAMPLES} == {int(t) for t in MessageType}


def test_tshark_decodes_every_sample_cleanly() -> None:
    assert tshark_problems([encode(m) for m in SAMPLES]) == []


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: f"{m.name}-{m.seq}")
def test_pycrate_accepts_sample(msg) -> None:
    if msg.msg_type in PYCRATE_UNKNOWN_TYPES:
        pytest.skip("pycrate 0.8 does not implement session set modification (16/17)")
    data = encode(msg)
    assert pycrate_error(data) is None
    assert decode(data) == msg


def nums(values: list[str]) -> list[int]:
    """tshark prints some numbers in hex (0x..), others in decimal."""
    return [int(v, 16) if v.startswith("0x") else int(v) for v in values]


def test_tshark_field_values_of_session_establishment() -> None:
    data = encode(session_establishment_request_full(seq=0x123456))
    (row,) = tshark_fields(
        [data],
        [
            "pfcp.msg_type",
            "pfcp.seqno",
            "pfcp.seid",
            "pfcp.node_id_ipv4",
            "pfcp.f_seid.ipv4",
            "pfcp.pdr_id",
            "pfcp.precedence",
            "pfcp.f_teid_flags.ch",
            "pfcp.f_teid_flags.ch_id",
            "pfcp.f_teid.choose_id",
            "pfcp.network_instance",
            "pfcp.ue_ip_addr_ipv4",
            "pfcp.ue_ip_address_flag.sd",
            "pfcp.flow_desc",
            "pfcp.spi",
            "pfcp.flow_label",
            "pfcp.sdf_filter_id",
            "pfcp.qfi_value",
            "pfcp.apply_action.forw",
            "pfcp.outer_hdr_creation.teid",
            "pfcp.outer_hdr_creation.ipv4",
            "pfcp.ul_mbr",
            "pfcp.dl_mbr",
            "pfcp.ul_gbr",
            "pfcp.volume_threshold.tovol",
            "pfcp.volume_threshold.ulvol",
            "pfcp.time_threshold",
            "pfcp.reporting_triggers_flags.volth",
            "pfcp.reporting_triggers_flags.volqu",
            "pfcp.measurement_method_flags.volume",
            "pfcp.gate_status.ulgate",
            "pfcp.apn_dnn",
            "pfcp.ue_ip_addr_ipv6_prefix_length",
        ],
    )
    assert nums(row["pfcp.msg_type"]) == [50]
    assert nums(row["pfcp.seqno"]) == [0x123456]
    assert row["pfcp.seid"] == ["0x0000000000000000", "0x1122334455667788"]  # header, F-SEID
    assert row["pfcp.node_id_ipv4"] == ["127.0.0.2"]
    assert row["pfcp.f_seid.ipv4"] == ["127.0.0.2"]
    assert nums(row["pfcp.pdr_id"]) == [1, 2]
    assert nums(row["pfcp.precedence"]) == [254, 253]
    assert nums(row["pfcp.f_teid_flags.ch"]) == [1]
    assert nums(row["pfcp.f_teid_flags.ch_id"]) == [1]
    assert nums(row["pfcp.f_teid.choose_id"]) == [1]
    assert row["pfcp.network_instance"] == ["internet", "internet", "internet", "access"]
    assert row["pfcp.ue_ip_addr_ipv4"] == ["10.45.0.7", "10.45.0.7", "10.45.0.7"]
    assert row["pfcp.ue_ip_address_flag.sd"][0] == "1"
    assert row["pfcp.flow_desc"] == [
        "permit out ip from any to assigned",
        "permit out 17 from 198.51.100.0/24 1000-2000 to assigned",
    ]
    assert nums(row["pfcp.spi"]) == [0x1234]
    assert nums(row["pfcp.flow_label"]) == [0xABCDE]
    assert nums(row["pfcp.sdf_filter_id"]) == [1]
    assert nums(row["pfcp.qfi_value"]) == [9, 9]
    assert nums(row["pfcp.apply_action.forw"]) == [1, 1]
    assert nums(row["pfcp.outer_hdr_creation.teid"]) == [0x01020304]
    assert row["pfcp.outer_hdr_creation.ipv4"] == ["127.0.0.3"]
    assert nums(row["pfcp.ul_mbr"]) == [100000]
    assert nums(row["pfcp.dl_mbr"]) == [200000]
    assert nums(row["pfcp.ul_gbr"]) == [1000]
    assert nums(row["pfcp.volume_threshold.tovol"]) == [10000000]
    assert nums(row["pfcp.volume_threshold.ulvol"]) == [5000000]
    assert nums(row["pfcp.time_threshold"]) == [600]
    assert nums(row["pfcp.reporting_triggers_flags.volth"]) == [1]
    assert nums(row["pfcp.reporting_triggers_flags.volqu"]) == [1]
    assert nums(row["pfcp.measurement_method_flags.volume"]) == [1]
    assert nums(row["pfcp.gate_status.ulgate"]) == [0]
    assert row["pfcp.apn_dnn"] == ["internet"]
    assert nums(row["pfcp.ue_ip_addr_ipv6_prefix_length"]) == [64]
