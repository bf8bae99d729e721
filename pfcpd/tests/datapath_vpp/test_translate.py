"""The vpp datapath's messages against upf.api: field names and types from vppapigen's JSON,
bytes from vpp_papi's serializer (neither is ours), values decoded back by the serializer.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from pfcpd.datapath.interface import (
    ApplyAction,
    Bar,
    DatapathError,
    DuplicateEncap,
    DuplicatingParameters,
    EventType,
    Far,
    Interface,
    Pdr,
    Qer,
    SdfFilter,
    SessionProgram,
    Urr,
)
from pfcpd.datapath.vpp import translate as tr

N3 = ipaddress.IPv4Address("10.200.0.2")
GNB = ipaddress.IPv4Address("10.200.0.1")
GNB6 = ipaddress.IPv6Address("fd00:200::1")
N3_6 = ipaddress.IPv6Address("fd00:200::2")
UE = ipaddress.ip_network("10.45.0.7/32")
UE6 = ipaddress.ip_network("2001:db8:45::/64")


def full_program() -> SessionProgram:
    """Every rule kind and every optional field at least once."""
    sdfs = (
        SdfFilter(
            protocol=17,
            remote=ipaddress.ip_network("198.51.100.0/24"),
            ue=UE,
            remote_ports=(53, 53),
            ue_ports=(1024, 65535),
            tos=(0x20, 0xFC),
        ),
        SdfFilter(protocol=50, spi=0x1234),
        SdfFilter(flow_label=0xABCDE),
    )
    pdrs = (
        Pdr(
            pdr_id=1,
            precedence=100,
            source_interface=Interface.ACCESS,
            far_id=1,
            local_fteid=(N3, 0x100),
            ue_ip=UE,
            qfi=9,
            sdf_filters=sdfs[:2],
            outer_header_removal=0,
            qer_ids=(1, 2),
            urr_ids=(1,),
        ),
        Pdr(
            pdr_id=2,
            precedence=200,
            source_interface=Interface.CORE,
            far_id=2,
            ue_ip=UE,
            network_instance=1,
            sdf_filters=sdfs[2:],
            qer_ids=(1,),
            urr_ids=(1, 2, 3, 4),
        ),
        Pdr(pdr_id=3, precedence=300, source_interface=Interface.CORE, far_id=3, ue_ip=UE6),
    )
    fars = (
        Far(far_id=1, apply_action=ApplyAction.FORW, network_instance=1, dscp=46),
        Far(
            far_id=2,
            apply_action=ApplyAction.FORW | ApplyAction.DUPL,
            destination_interface=Interface.ACCESS,
            outer_header_creation=(GNB, 0x200),
            ohc_source=N3,
            duplicating=(
                DuplicatingParameters(
                    Interface.CP_FUNCTION,
                    DuplicateEncap.UDP,
                    peer=ipaddress.IPv4Address("10.200.0.3"),
                    source=N3,
                    port=9999,
                    dscp=10,
                    forwarding_policy=3,
                ),
                DuplicatingParameters(Interface.CORE),
            ),
        ),
        Far(
            far_id=3,
            apply_action=ApplyAction.BUFF | ApplyAction.NOCP,
            destination_interface=Interface.ACCESS,
            outer_header_creation=(GNB6, 0x300),
            ohc_source=N3_6,
            pdu_session_container=False,
            redirect=(1, ipaddress.IPv6Address("2001:db8::80")),
        ),
        Far(far_id=4, apply_action=ApplyAction.FORW, redirect=(2, "http://portal.example")),
    )
    return SessionProgram(
        pdrs=pdrs,
        fars=fars,
        qers=(
            Qer(1, gate_ul_open=False, qfi=9, rqi=True, mbr_ul=10_000_000, mbr_dl=2**40, ppi=0),
            Qer(2, gbr_ul=1000, gbr_dl=2000, burst_bytes=65536),
        ),
        urrs=(
            Urr(1, volume_threshold=(1000, 0, 0), volume_quota=(0, 500, 600)),
            Urr(2, time_threshold_ns=5 * 10**9, time_quota_ns=60 * 10**9, drop_on_quota=False),
            Urr(3),
            Urr(4),
        ),
        bar=Bar(7, max_packets=10, max_bytes=20000, duration_ns=3 * 10**9, duration_grant=4),
    )


# -- the .api's definitions, read through the JSON ---------------------------------------


def _types(api: dict[str, Any]) -> dict[str, list[Any]]:
    """vl_api_<name>_t -> its field list, for types and unions."""
    out = {}
    for t in api["types"] + api["unions"]:
        out[f"vl_api_{t[0]}_t"] = [f for f in t[1:] if isinstance(f, list)]
    return out


def _enum(api: dict[str, Any], name: str) -> dict[str, int]:
    for e in api["enums"] + api.get("enumflags", []):
        if e[0] == name:
            return {item[0]: item[1] for item in e[1:] if isinstance(item, list)}
    raise AssertionError(f"upf.api has no enum {name}")


def _message_fields(api: dict[str, Any], name: str) -> list[Any]:
    for m in api["messages"]:
        if m[0] == name:
            return [f for f in m[1:] if isinstance(f, list)]
    raise AssertionError(f"upf.api has no message {name}")


SCALARS = {"u8", "u16", "u32", "u64", "i32", "bool"}
CONVERTED = {
    "vl_api_address_t": (ipaddress.IPv4Address, ipaddress.IPv6Address),
    "vl_api_prefix_t": (ipaddress.IPv4Network, ipaddress.IPv6Network),
}


def check_fields(types: dict[str, list[Any]], type_name: str, value: Any, where: str) -> None:
    """Every key of ``value`` is a field of ``type_name`` with a value of its type; fixed
    arrays have their exact length (the serializer refuses other lengths)."""
    fields = {f[1]: f for f in types[type_name]}
    assert isinstance(value, dict), f"{where}: {type_name} wants a mapping"
    for key, v in value.items():
        assert key in fields, f"{where}.{key}: not a field of {type_name} ({sorted(fields)})"
        ftype = fields[key][0]
        length = fields[key][2] if len(fields[key]) > 2 and isinstance(fields[key][2], int) else 0
        if length:
            assert isinstance(v, list) and len(v) == length, f"{where}.{key}: {length} values"
            continue
        if ftype in SCALARS:
            assert isinstance(v, int), f"{where}.{key}: {ftype} wants an integer, got {v!r}"
        elif ftype in CONVERTED:
            assert isinstance(v, CONVERTED[ftype]), f"{where}.{key}: {ftype} got {v!r}"
        elif ftype in types:
            check_fields(types, ftype, v, f"{where}.{key}")
        else:  # an enum or enumflag: an integer
            assert isinstance(v, int), f"{where}.{key}: {ftype} wants an integer, got {v!r}"


# -- tests -------------------------------------------------------------------------------


def test_every_field_sent_is_a_field_of_upf_api(upf_api: dict[str, Any]) -> None:
    msg = tr.session_message(0x1234, tr.OP_CREATE, full_program())
    top = {f[1] for f in _message_fields(upf_api, "upf_session_add_del")}
    assert set(msg) <= top, set(msg) - top
    types = _types(upf_api)
    for i, rule in enumerate(msg["rules"]):
        check_fields(types, "vl_api_upf_rule_t", rule, f"rules[{i}]")


def test_enums_match_the_interface(upf_api: dict[str, Any]) -> None:
    """The .api's enum values are the interface's (TS 29.244) values."""
    assert _enum(upf_api, "upf_interface") == {f"UPF_API_IF_{i.name}": i.value for i in Interface}
    assert _enum(upf_api, "upf_apply_action") == {
        f"UPF_API_AA_{a.name}": a.value for a in ApplyAction
    }
    assert _enum(upf_api, "upf_event_type") == {f"UPF_API_EV_{e.name}": e.value for e in EventType}
    assert _enum(upf_api, "upf_ohc") == {f"UPF_API_OHC_{e.name}": e.value for e in DuplicateEncap}
    kinds = _enum(upf_api, "upf_rule_kind")
    assert kinds == {f"UPF_API_RULE_{arm.upper()}": i for i, arm in enumerate(tr.RULE_ARMS)}
    union = _types(upf_api)["vl_api_upf_rule_union_t"]
    assert [f[1] for f in union] == list(tr.RULE_ARMS)
    assert _enum(upf_api, "upf_session_op") == {
        "UPF_API_SESSION_CREATE": tr.OP_CREATE,
        "UPF_API_SESSION_MODIFY": tr.OP_MODIFY,
        "UPF_API_SESSION_DELETE": tr.OP_DELETE,
    }
    assert _enum(upf_api, "upf_if_role") == {
        "UPF_API_ROLE_N3": tr.ROLE_N3,
        "UPF_API_ROLE_N6": tr.ROLE_N6,
        "UPF_API_ROLE_N9": tr.ROLE_N9,
    }
    sdf = _enum(upf_api, "upf_sdf_flags")
    assert sdf == {
        "UPF_API_SDF_PROTO": tr.SDF_PROTO,
        "UPF_API_SDF_REMOTE_PORT": tr.SDF_REMOTE_PORT,
        "UPF_API_SDF_UE_PORT": tr.SDF_UE_PORT,
        "UPF_API_SDF_TOS": tr.SDF_TOS,
        "UPF_API_SDF_SPI": tr.SDF_SPI,
        "UPF_API_SDF_FLOW_LABEL": tr.SDF_FLOW_LABEL,
        "UPF_API_SDF_REMOTE_ADDR": tr.SDF_REMOTE_ADDR,
        "UPF_API_SDF_UE_ADDR": tr.SDF_UE_ADDR,
    }
    assert _enum(upf_api, "upf_urr_triggers") == {
        "UPF_API_URR_VOLTH": tr.URR_VOLTH,
        "UPF_API_URR_VOLQU": tr.URR_VOLQU,
        "UPF_API_URR_TIMTH": tr.URR_TIMTH,
        "UPF_API_URR_TIMQU": tr.URR_TIMQU,
    }


def _decoded(papi_messages: dict[str, Any], name: str, args: dict[str, Any]) -> Any:
    msg = papi_messages[name]
    data = msg.pack({"_vl_msg_id": 1000, "client_index": 0, "context": 7, **args})
    # ntc: no conversion to ipaddress objects (vpp_papi decodes every arm of a union, and
    # the other arms' bytes are no valid prefixes); _ip/_net below read the raw fields.
    decoded, size = msg.unpack(data, ntc=True)
    assert size == len(data)
    return decoded


def _ip(a: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A raw vl_api_address_t (ip_types.api: af 0 = IPv4 in un.ip4, 1 = IPv6 in un.ip6)."""
    if int(a.af) == 0:
        return ipaddress.IPv4Address(bytes(a.un.ip4))
    return ipaddress.IPv6Address(bytes(a.un.ip6))


def _net(p: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network((_ip(p.address), p.len))


def _arm(rule: Any) -> Any:
    return getattr(rule.r, tr.RULE_ARMS[int(rule.kind)])


def test_the_serializer_carries_the_program(papi_messages: dict[str, Any]) -> None:
    """Packed by vpp_papi from upf.api's definitions, then unpacked: what the plugin
    receives is the program."""
    program = full_program()
    d = _decoded(
        papi_messages,
        "upf_session_add_del",
        tr.session_message(0xDEADBEEF01, tr.OP_MODIFY, program, send_end_marker=True),
    )
    assert d.seid == 0xDEADBEEF01 and int(d.op) == tr.OP_MODIFY and d.send_end_marker
    assert d.n_rules == len(d.rules) == 3 + 3 + 4 + 2 + 2 + 4 + 1
    by_kind: dict[int, list[Any]] = {}
    for rule in d.rules:
        by_kind.setdefault(int(rule.kind), []).append(_arm(rule))
    pdrs, fars = by_kind[tr.RULE_PDR], by_kind[tr.RULE_FAR]
    sdfs, dupls = by_kind[tr.RULE_SDF], by_kind[tr.RULE_DUPL]
    p1, p2, p3 = pdrs
    assert (p1.pdr_id, p1.precedence, int(p1.source_interface)) == (1, 100, 0)
    assert p1.has_fteid and _ip(p1.fteid_addr) == N3 and p1.teid == 0x100
    assert p1.has_ue_ip and _net(p1.ue_ip) == UE and p1.has_qfi and p1.qfi == 9
    assert p1.outer_header_removal == 0 and p1.far_id == 1
    assert list(p1.qer_ids) == [1, 2] and list(p1.urr_ids) == [1, 0, 0, 0]
    assert (p1.sdf_first, p1.sdf_count, p2.sdf_first, p2.sdf_count) == (0, 2, 2, 1)
    assert not p2.has_fteid and not p2.has_qfi and p2.outer_header_removal == 255
    assert p2.network_instance == 1 and list(p2.urr_ids) == [1, 2, 3, 4]
    assert _net(p3.ue_ip) == UE6 and p3.sdf_count == 0
    s1, s2, s3 = sdfs
    assert int(s1.flags) == (
        tr.SDF_PROTO
        | tr.SDF_REMOTE_PORT
        | tr.SDF_UE_PORT
        | tr.SDF_TOS
        | tr.SDF_REMOTE_ADDR
        | tr.SDF_UE_ADDR
    )
    assert s1.proto == 17 and _net(s1.remote) == ipaddress.ip_network("198.51.100.0/24")
    assert _net(s1.ue) == UE and (s1.remote_port_lo, s1.remote_port_hi) == (53, 53)
    assert (s1.ue_port_lo, s1.ue_port_hi, s1.tos, s1.tos_mask) == (1024, 65535, 0x20, 0xFC)
    assert int(s2.flags) == tr.SDF_PROTO | tr.SDF_SPI and s2.spi == 0x1234
    assert s2.remote.len == 0 and s2.ue.len == 0  # any
    assert int(s3.flags) == tr.SDF_FLOW_LABEL and s3.flow_label == 0xABCDE
    f1, f2, f3, f4 = fars
    assert int(f1.apply_action) == ApplyAction.FORW and f1.dscp == 46 and int(f1.ohc) == 0
    assert f1.network_instance == 1 and f1.redirect_type == 0
    assert int(f2.apply_action) == ApplyAction.FORW | ApplyAction.DUPL
    assert int(f2.ohc) == tr.OHC_GTPU and _ip(f2.ohc_peer) == GNB and f2.ohc_teid == 0x200
    assert _ip(f2.ohc_src) == N3 and f2.pdu_session_container and f2.dscp == 255
    assert (f2.dupl_first, f2.dupl_count, f3.dupl_first, f3.dupl_count) == (0, 2, 2, 0)
    assert _ip(f3.ohc_peer) == GNB6 and _ip(f3.ohc_src) == N3_6 and not f3.pdu_session_container
    assert f3.redirect_type == 2 and _ip(f3.redirect_addr) == ipaddress.IPv6Address("2001:db8::80")
    assert f4.redirect_type == 3  # URL: the type only
    d1, d2 = dupls
    assert int(d1.destination_interface) == Interface.CP_FUNCTION and int(d1.ohc) == 2
    assert _ip(d1.peer) == ipaddress.IPv4Address("10.200.0.3") and _ip(d1.src) == N3
    assert (d1.port, d1.dscp, d1.forwarding_policy) == (9999, 10, 3)
    assert int(d2.ohc) == 0 and d2.dscp == 255
    q1, q2 = by_kind[tr.RULE_QER]
    assert q1.gate_ul_closed and not q1.gate_dl_closed and q1.qfi == 9 and q1.rqi
    assert (q1.mbr_ul, q1.mbr_dl) == (10_000_000, 2**40)
    assert (q2.gbr_ul, q2.gbr_dl, q2.burst_bytes) == (1000, 2000, 65536)
    assert (q1.ppi, q2.ppi) == (0, 255)  # PPI 0 is a value; 255: none
    u1, u2, u3, _ = by_kind[tr.RULE_URR]
    assert int(u1.triggers) == tr.URR_VOLTH | tr.URR_VOLQU and u1.drop_on_quota
    assert list(u1.vol_threshold) == [1000, 0, 0] and list(u1.vol_quota) == [0, 500, 600]
    assert int(u2.triggers) == tr.URR_TIMTH | tr.URR_TIMQU and not u2.drop_on_quota
    assert (u2.time_threshold_ns, u2.time_quota_ns) == (5 * 10**9, 60 * 10**9)
    assert int(u3.triggers) == 0
    (bar,) = by_kind[tr.RULE_BAR]
    assert (bar.bar_id, bar.max_pkts, bar.max_bytes) == (7, 10, 20000)
    assert (bar.duration_ns, bar.duration_grant) == (3 * 10**9, 4)


def test_delete_carries_no_rules(papi_messages: dict[str, Any]) -> None:
    d = _decoded(papi_messages, "upf_session_add_del", tr.session_message(5, tr.OP_DELETE, None))
    assert int(d.op) == tr.OP_DELETE and d.n_rules == 0 and d.rules == []


def test_usage_of_a_reply(papi_messages: dict[str, Any]) -> None:
    usage = [
        {
            "urr_id": 4,
            "flags": 1,
            "bytes_total": 3000,
            "bytes_ul": 1000,
            "bytes_dl": 2000,
            "pkts_total": 30,
            "pkts_ul": 10,
            "pkts_dl": 20,
            "dropped_dl_pkts": 2,
            "dropped_dl_bytes": 200,
            "first_ns": 5,
            "last_ns": 9,
            "start_ns": 1,
        },
        {"urr_id": 9},
    ]
    reply = _decoded(
        papi_messages,
        "upf_usage_get_reply",
        {"retval": 0, "now_ns": 10, "n_usage": 2, "usage": usage},
    )
    got = tr.usages_of(reply)
    assert set(got) == {4, 9}
    u = got[4]
    assert (u.bytes_total, u.bytes_ul, u.bytes_dl) == (3000, 1000, 2000)
    assert (u.packets_total, u.packets_ul, u.packets_dl) == (30, 10, 20)
    assert (u.dropped_dl_packets, u.dropped_dl_bytes) == (2, 200)
    assert (u.first_packet_ns, u.last_packet_ns) == (5, 9)
    assert got[9].bytes_total == 0


def test_events_of_an_upf_event(papi_messages: dict[str, Any]) -> None:
    """Every field of the records, an Error Indication's GTP-U Peer Address (IPv4 or IPv6,
    ``has_peer``) among them."""
    gnb4, gnb6 = ipaddress.ip_address("192.0.2.9"), ipaddress.ip_address("2001:db8:9::1:2")
    records = [
        {"type": 1, "id": 3, "seid": 0x11, "value": 2, "time_ns": 100},
        {"type": 5, "id": 7, "seid": 0x12, "value": 9, "time_ns": 101},
        {"type": 7, "id": 0, "seid": 0, "value": 0xABC, "time_ns": 102},
        {"type": 7, "seid": 0, "value": 0xABD, "time_ns": 103, "has_peer": True, "peer": gnb4},
        {"type": 7, "seid": 0, "value": 0xABE, "time_ns": 104, "has_peer": True, "peer": gnb6},
    ]
    msg = papi_messages["upf_event"]
    data = msg.pack(
        {"_vl_msg_id": 1000, "client_index": 0, "pid": 1, "n_records": 5, "records": records}
    )
    decoded, _ = msg.unpack(data)  # (as the client's reader: addresses as ipaddress objects)
    assert type(decoded).__name__ == "upf_event"  # what the datapath dispatches on
    # (with or without a context field: the client gives vpp_papi_async's reader one,
    # test_client.py::test_dump_and_events)
    events, unknown = tr.events_of(decoded)
    assert unknown == 0
    assert [(e.type, e.seid, e.id, e.value, e.time_ns, e.peer) for e in events] == [
        (EventType.USAGE_THRESHOLD, 0x11, 3, 2, 100, None),
        (EventType.DL_DATA_REPORT, 0x12, 7, 9, 101, None),
        (EventType.ERROR_INDICATION, 0, 0, 0xABC, 102, None),
        (EventType.ERROR_INDICATION, 0, 0, 0xABD, 103, gnb4),
        (EventType.ERROR_INDICATION, 0, 0, 0xABE, 104, gnb6),
    ]


def test_event_records_of_unknown_type_are_counted() -> None:
    """A plugin newer than this pfcpd may send event types it does not know."""
    message = {
        "records": [
            {"type": 99, "id": 1, "seid": 2, "value": 3},
            {"type": 6, "id": 0, "seid": 2, "value": 4},
        ]
    }
    events, unknown = tr.events_of(message)
    assert unknown == 1
    assert [(e.type, e.seid, e.value) for e in events] == [(EventType.BUFFER_EXPIRED, 2, 4)]


@pytest.mark.parametrize(
    ("program", "problem"),
    [
        (
            SessionProgram(
                pdrs=(Pdr(1, 1, Interface.ACCESS, 1, qer_ids=(1, 2, 3)),),
                fars=(Far(1, ApplyAction.FORW),),
            ),
            "at most 2",
        ),
        (
            SessionProgram(
                pdrs=(Pdr(1, 1, Interface.ACCESS, 1, urr_ids=(0,)),),
                fars=(Far(1, ApplyAction.FORW),),
            ),
            "id 0",
        ),
        (
            SessionProgram(
                pdrs=(),
                fars=(Far(1, ApplyAction.FORW, outer_header_creation=(GNB, 1)),),
            ),
            "ohc_source",
        ),
        (
            SessionProgram(
                pdrs=(),
                fars=(
                    Far(
                        1,
                        ApplyAction.DUPL,
                        duplicating=(DuplicatingParameters(Interface.CORE, DuplicateEncap.IP),),
                    ),
                ),
            ),
            "peer and source",
        ),
        (
            SessionProgram(pdrs=(), fars=(Far(1, ApplyAction.FORW, redirect=(0, GNB6)),)),
            "IPv4",
        ),
        (
            SessionProgram(pdrs=(Pdr(1, 1, Interface.ACCESS, 1, network_instance=70000),), fars=()),
            "network instance",
        ),
    ],
)
def test_programs_the_message_cannot_carry(program: SessionProgram, problem: str) -> None:
    with pytest.raises(DatapathError, match=problem):
        tr.session_message(1, tr.OP_CREATE, program)


def test_cookie_follows_the_rules() -> None:
    a = tr.session_message(1, tr.OP_CREATE, full_program())
    b = tr.session_message(2, tr.OP_MODIFY, full_program())
    assert a["cookie"] == b["cookie"] != 0  # the rules, not the SEID or the operation
    changed = full_program()
    changed = SessionProgram(
        pdrs=changed.pdrs, fars=changed.fars, qers=changed.qers[:1], urrs=changed.urrs
    )
    assert tr.session_message(1, tr.OP_CREATE, changed)["cookie"] != a["cookie"]


def test_precompiled_packer_writes_vpp_papis_bytes(
    upf_api: dict[str, Any], papi_messages: dict[str, Any]
) -> None:
    """wire.SessionPacker (structs compiled from upf.api's JSON) against vpp_papi's
    generic serializer: the same bytes for every rule kind and field."""
    from pfcpd.datapath.vpp.wire import SessionPacker

    packer = SessionPacker(upf_api)
    for op, program, sndem in (
        (tr.OP_CREATE, full_program(), False),
        (tr.OP_MODIFY, full_program(), True),
        (tr.OP_DELETE, None, False),
    ):
        msg = tr.session_message(0xFEDCBA9876543210, op, program, sndem)
        papi = papi_messages["upf_session_add_del"].pack(
            {"_vl_msg_id": 1234, "client_index": 77, "context": 99, **msg}
        )
        ours = packer.message(
            1234,
            77,
            99,
            msg["seid"],
            msg["op"],
            msg["send_end_marker"],
            msg["cookie"],
            msg["n_rules"],
            packer.rules(msg["rules"]),
        )
        assert ours == papi


def test_values_too_wide_for_upf_api_are_refused(upf_api: dict[str, Any]) -> None:
    """u32 fields are not range-checked by the translation: the packer's structs refuse a
    value that does not fit (the datapath turns it into a DatapathError)."""
    import struct

    from pfcpd.datapath.vpp.wire import SessionPacker

    packer = SessionPacker(upf_api)
    wide = SessionProgram(pdrs=(Pdr(2**32, 1, Interface.ACCESS, 1),), fars=())
    with pytest.raises(struct.error):
        packer.rules(tr.program_rules(wide))
