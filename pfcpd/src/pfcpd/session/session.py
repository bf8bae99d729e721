"""A session as the engine keeps it (`Session`: its rules packed, its allocations as text, its
URRs' books, what the engine looks up often) and its journal record: binary for a session
of the usual shape (`record`), JSON text for any other. Also here: a session's UE addresses
between text and networks, and its FARs' peers.
"""

from __future__ import annotations

import binascii
import ipaddress
import socket
import struct
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import cast

from ..datapath.interface import IPAddress, IPNetwork, SessionProgram
from ..pfcp import IE, Grouped, IEType, decode_ies, encode_groups, encode_ies
from ..pfcp.ies_address import FSEID
from ..pfcp.ies_text import ApplicationID
from ._record import RecordWriter
from .packing import pack_rules, unpack_rules
from .record import BINARY_RECORD_VERSION, FIXED_OCTETS, books_octets, fixed_octets
from .record import HEAD as record_head
from .rules import RuleSet, ie_value
from .session_set import FqCsids
from .usage import (
    INFINITY,
    NO_DROPS,
    NO_TIME,
    RECORD_PEERS,
    U64_MAX,
    ZERO,
    Books,
    OneBook,
    UrrBook,
    fseid_hex,
    json_ints,
    json_value,
    kept_books,
    record_peer_texts,
)

T = IEType
# The JSON record's version: 2, the rules compressed (``rz``, `packing`); 1 (``rules``) still
# read. The usual session's record is binary (`record.BINARY_RECORD_VERSION`).
RECORD_VERSION = 2


FarPeer = tuple[IPAddress, int]  # (address, TEID) of an outer header a FAR creates
UeText = tuple[str, str]  # (network instance, UE address or prefix as text)
KeptPeers = FarPeer | tuple[FarPeer, ...]  # (`Session.peers_kept`)
NO_APPS: frozenset[str] = frozenset()  # (a session's ``apps`` when its PDRs name none)


@dataclass(slots=True, init=False)
class Session:
    """A session. Of a tuple that usually holds one item (its TEIDs, UE addresses, FARs'
    peers) it keeps that item alone (``teids_kept``, ``ue_kept``, ``peers_kept``): a tuple
    of one costs 48 bytes (of ~1,480 per session at 1,000,000 sessions), three of them 144.
    ``teids``, ``ue`` and ``peers`` are those tuples, made when asked for; `teids_of`,
    `ue_of` and `peers_of` read what is kept without a property's call (the engine's
    paths of every request). Its one URR's book is a `OneBook` (48 bytes; a dict of one
    cost 224), read as that dict was. Of the CP's F-SEID it keeps the addresses
    (``cp_ipv4``, ``cp_ipv6``: texts the decoder shares between sessions): its SEID is
    ``cp_seid``, and the decoded F-SEID object cost 56 bytes (``cp_fseid`` makes one).
    ``cp_moves`` counts its moves to another CP or CP SEID (runtime only, not journaled: an
    int below 257 is shared, so a slot's 8 bytes)."""

    up_seid: int
    cp_seid: int
    cp_node_id: str
    cp_ipv4: str | None
    cp_ipv6: str | None
    rules_blob: bytes  # the rules as encoded PFCP groups, compressed (`packing`)
    # (peer, TEID) of each outer header its FARs create (Error Indications name them). The
    # program itself is not kept: the datapath has it, and `SessionEngine._program` compiles
    # it again from the rules when it is needed (reports, operators).
    peers_kept: KeptPeers
    teids_kept: int | tuple[int, ...]
    # (network instance, UE address or prefix as text): an IPv4Network object costs ~450
    # bytes, its text ~60; `ue_network` makes the object when an allocation is given back.
    ue_kept: UeText | tuple[UeText, ...]
    urrs: Books  # (one: a `OneBook`)
    bar_duration_s: int | None
    # How many times the CP gave the BAR its DL Buffering Duration (`compile.compile_bar`;
    # 0 with none: a session of the usual shape, journaled without it)
    bar_grant: int
    established_ntp: float
    fq_csids: FqCsids  # the FQ-CSIDs the CP gave it, one per node type
    group_id: str | None  # the Group Id the CP gave it

    apps: frozenset[str]  # Application IDs its PDRs name
    ddn_delay: float  # seconds: its BAR's Downlink Data Notification Delay
    # Moves to another CP or CP SEID, and their undos (`EngineState._cp_move`): a report's
    # answer is about the session only if the count is still the report's (`PendingReport`)
    cp_moves: int

    def __init__(
        self,
        up_seid: int,
        cp_seid: int,
        cp_node_id: str,
        cp_fseid: FSEID,
        rules_blob: bytes,
        peers: tuple[FarPeer, ...],
        teids: tuple[int, ...] = (),
        ue: tuple[UeText, ...] = (),
        urrs: Books | None = None,
        bar_duration_s: int | None = None,
        established_ntp: float = 0.0,
        fq_csids: FqCsids = (),
        group_id: str | None = None,
        apps: frozenset[str] = NO_APPS,
        ddn_delay: float = 0.0,
        bar_grant: int = 0,
    ) -> None:
        """``cp_fseid``: the CP's F-SEID, whose SEID is ``cp_seid`` (its addresses are
        kept)."""
        self.up_seid = up_seid
        self.cp_seid = cp_seid
        self.cp_node_id = cp_node_id
        self.cp_ipv4 = cp_fseid.ipv4
        self.cp_ipv6 = cp_fseid.ipv6
        self.rules_blob = rules_blob
        # (`kept_peers`, `kept_teids`, `kept_ue`, inline: no call per establishment)
        self.peers_kept = peers[0] if len(peers) == 1 else peers
        self.teids_kept = teids[0] if len(teids) == 1 and type(teids[0]) is int else teids
        self.ue_kept = ue[0] if len(ue) == 1 and type(ue[0][0]) is str else ue
        if urrs is None:
            urrs = {}
        elif type(urrs) is dict and len(urrs) == 1:
            urrs = kept_books(urrs)
        self.urrs = urrs
        self.bar_duration_s = bar_duration_s
        self.established_ntp = established_ntp
        self.fq_csids = fq_csids
        self.group_id = group_id
        self.apps = apps
        self.ddn_delay = ddn_delay
        self.bar_grant = bar_grant
        self.cp_moves = 0

    @property
    def cp_fseid(self) -> FSEID:
        """The CP's F-SEID (made of ``cp_seid`` and the addresses kept)."""
        return FSEID(self.cp_seid, self.cp_ipv4, self.cp_ipv6)

    @cp_fseid.setter
    def cp_fseid(self, fseid: FSEID) -> None:
        """The CP's F-SEID is ``fseid``: its SEID becomes ``cp_seid``."""
        self.cp_seid, self.cp_ipv4, self.cp_ipv6 = fseid.seid, fseid.ipv4, fseid.ipv6

    @property
    def peers(self) -> tuple[FarPeer, ...]:
        return peers_of(self.peers_kept)

    @peers.setter
    def peers(self, peers: tuple[FarPeer, ...]) -> None:
        self.peers_kept = kept_peers(peers)

    @property
    def teids(self) -> tuple[int, ...]:
        return teids_of(self.teids_kept)

    @teids.setter
    def teids(self, teids: tuple[int, ...]) -> None:
        self.teids_kept = kept_teids(teids)

    @property
    def ue(self) -> tuple[UeText, ...]:
        return ue_of(self.ue_kept)

    @ue.setter
    def ue(self, ue: tuple[UeText, ...]) -> None:
        self.ue_kept = kept_ue(ue)

    @property
    def key(self) -> str:
        # (= f"s:{seid:x}": % costs a third less, no format spec to parse)
        return "s:%x" % self.up_seid  # noqa: UP031

    @property
    def rules(self) -> RuleSet:
        """The rules, decoded afresh (the caller may change them)."""
        raw = unpack_rules(self.rules_blob)
        return RuleSet.from_groups(decode_ies(raw, 0, len(raw)))

    def set_rules(self, rules: RuleSet, encoded: dict[int, bytes] | None = None) -> None:
        """``encoded``: `RuleSet.encoded` of ``rules`` as they are now, when at hand."""
        groups = rules.groups()
        if encoded is not None:
            raw = b"".join([encoded[id(g)] for g in groups])
        else:
            raw = encode_groups(list[IE](groups))
        self.rules_blob = pack_rules(raw)
        self.derive(rules)

    def derive(self, rules: RuleSet) -> None:
        """What the engine looks up often, taken from the rules once."""
        self.apps = _applications(rules)
        bars = rules.bar
        delay = (
            next((ie_value(b, T.DOWNLINK_DATA_NOTIFICATION_DELAY) for b in bars.values()), 0)
            if bars
            else 0
        )
        # TS 29.244 8.2.28: multiples of 50 ms (0.0: the one shared float, no object each)
        self.ddn_delay = delay * 0.05 if delay else 0.0

    def record(self) -> bytes:
        """The journal's record, one per session at every commit; `_restore_session` reads
        it (`record.read_record`). A session of the usual shape in binary (see the record
        module: one struct, and octets made once per CP and network instance), any other
        as JSON text (`json_record`). The usual session's binary record is written in C
        (`_record.RecordWriter`: ~1,900 instructions against ~12,900 here); the code below
        writes it for every session the C one declines."""
        out = _write_usual(self)
        return out if out is not None else self.python_record()

    def python_record(self) -> bytes:
        """`record` as written in Python, for any session (the C writer writes the same
        binary record for those it takes)."""
        ue, teid = self.ue_kept, self.teids_kept
        established = self.established_ntp  # (most books' period start: one float object)
        if (
            type(teid) is int  # (one TEID, one UE address: each kept alone)
            and ue
            and type(ue[0]) is str
            and type(established) is float
            and self.bar_duration_s is None
            and self.group_id is None
            and not self.fq_csids
        ):
            up_seid, cp_seid, node = self.up_seid, self.cp_seid, self.cp_node_id
            name, address = ue
            if (
                type(up_seid) is type(cp_seid) is int
                and type(name) is type(address) is type(node) is str
            ):
                try:  # (struct.error: a value out of its field's range; then as JSON)
                    books = books_octets(self.urrs, established)
                    if books is not None:
                        key = (node, self.cp_ipv4, self.cp_ipv6, name)
                        fixed = FIXED_OCTETS.get(key) or fixed_octets(*key)
                        rz, text = self.rules_blob, address.encode()
                        return b"".join(
                            (
                                _HEAD(BINARY_RECORD_VERSION, up_seid, cp_seid, cp_seid,
                                      established, teid, len(rz), len(text)),
                                rz, text, fixed, books,
                            )
                        )  # fmt: skip
                except (struct.error, UnicodeEncodeError):
                    pass
        return self.json_record()

    def json_record(self) -> bytes:
        """The record as JSON text (as ``json.dumps`` with separators "," and ":" writes
        it) made without a dict. A session with a CP SEID of 64 bits (its F-SEID's), no
        BAR, FQ-CSID or Group Id in one piece, with the texts of its CP's Node ID and
        F-SEID addresses made once (`record_peer_texts`); any other as `_record_text`
        writes it (the same text: `test_record_fast`)."""
        up_seid, cp_seid = self.up_seid, self.cp_seid
        established = self.established_ntp  # (most books' period start: one float object)
        if not (
            type(cp_seid) is int  # (the F-SEID's SEID)
            and 0 <= cp_seid <= U64_MAX
            and type(up_seid) is int
            and type(established) is float
            and -INFINITY < established < INFINITY
            and self.bar_duration_s is None
            and self.group_id is None
            and not self.fq_csids
        ):
            return self._record_text().encode()
        # (an exact int or finite float: f-strings write them as json_value does)
        est = f"{established}"
        ipv4, ipv6 = self.cp_ipv4, self.cp_ipv6
        peer = RECORD_PEERS.get((self.cp_node_id, ipv4, ipv6))
        if peer is None:
            peer = record_peer_texts(self.cp_node_id, ipv4, ipv6)
        ues, urrs, teid_text = self._record_lists(established, est)
        head, tail = peer
        return (
            f'{_RECORD_HEAD}{up_seid},"cp_seid":{cp_seid}{head}{cp_seid.to_bytes(8, "big").hex()}'
            f"{tail}{binascii.b2a_base64(self.rules_blob, newline=False).decode()}"
            f'","teids":{teid_text},"ue":[{ues}],"urrs":{{{urrs}}},"bar_duration":null,'
            f'"established":{est},"fq_csids":"","group_id":null}}'
        ).encode()

    def _record_lists(self, established: float, est: str) -> tuple[str, str, str]:
        """The record's UE addresses (the list's items), URR books (the object's members)
        and TEIDs (the list), ``est`` the text of ``established``."""
        ue = self.ue_kept
        if ue and type(ue[0]) is str:  # (the usual session: one, kept alone)
            n, a = ue
            ues = f"[{encode_basestring_ascii(n)},{encode_basestring_ascii(a)}]"
        else:
            ues = ",".join(
                [
                    f"[{encode_basestring_ascii(n)},{encode_basestring_ascii(a)}]"
                    for n, a in cast(tuple[UeText, ...], ue)
                ]
            )
        books = self.urrs
        if type(books) is OneBook:  # (the usual session: no list)
            k, b = books.urr_id, books.book
            urrs = f'"{k}":{b.json_text(established, est)}'
        else:
            urrs = ",".join([f'"{k}":{b.json_text(established, est)}' for k, b in books.items()])
        teids = self.teids_kept
        if type(teids) is int:  # (one, kept alone: json_ints' usual case)
            teid_text = f"[{int.__repr__(teids)}]"
        else:
            teid_text = json_ints(cast(tuple[int, ...], teids))
        return ues, urrs, teid_text

    def _record_text(self) -> str:
        """`record`'s text, for any session."""
        rz = binascii.b2a_base64(self.rules_blob, newline=False).decode()  # (= b64encode)
        csids = encode_ies(list[IE](self.fq_csids)).hex() if self.fq_csids else ""
        established = self.established_ntp  # (most books' period start: one float object)
        # (a finite float, as json_value writes it: without its checks)
        est = (
            float.__repr__(established)
            if type(established) is float and -INFINITY < established < INFINITY
            else json_value(established)
        )
        ues, urrs, teid_text = self._record_lists(established, est)
        node = encode_basestring_ascii(self.cp_node_id)
        bar, group = self.bar_duration_s, self.group_id
        grant = f',"bar_grant":{int.__repr__(self.bar_grant)}' if self.bar_grant else ""
        return (
            f'{{"v":{RECORD_VERSION},"up_seid":{int.__repr__(self.up_seid)},'
            f'"cp_seid":{int.__repr__(self.cp_seid)},"cp_node_id":{node},'
            f'"cp_fseid":"{fseid_hex(self.cp_fseid)}","rz":"{rz}","teids":{teid_text},'
            f'"ue":[{ues}],"urrs":{{{urrs}}},'
            f'"bar_duration":{"null" if bar is None else json_value(bar)}{grant},'
            f'"established":{est},"fq_csids":"{csids}",'
            f'"group_id":{"null" if group is None else json_value(group)}}}'
        )


_RECORD_HEAD = f'{{"v":{RECORD_VERSION},"up_seid":'  # (`Session.record`)


def teids_of(kept: int | tuple[int, ...]) -> tuple[int, ...]:
    """A session's TEIDs from its ``teids_kept``."""
    return (kept,) if type(kept) is int else cast(tuple[int, ...], kept)


def ue_of(kept: UeText | tuple[UeText, ...]) -> tuple[UeText, ...]:
    """A session's UE addresses from its ``ue_kept`` (one kept alone: its texts)."""
    if kept and type(kept[0]) is str:
        return (kept,)
    return cast(tuple[UeText, ...], kept)


def peers_of(kept: KeptPeers) -> tuple[FarPeer, ...]:
    """A session's FARs' peers from its ``peers_kept`` (one kept alone: its address and
    TEID, the address no tuple)."""
    if kept and type(kept[0]) is not tuple:
        return (cast(FarPeer, kept),)
    return kept


def kept_teids(teids: tuple[int, ...]) -> int | tuple[int, ...]:
    """``teids`` as a session keeps them (``teids_kept``: one int alone)."""
    return teids[0] if len(teids) == 1 and type(teids[0]) is int else teids


def kept_ue(ue: tuple[UeText, ...]) -> UeText | tuple[UeText, ...]:
    """``ue`` as a session keeps them (``ue_kept``: one alone, told from a tuple of them by
    its first item, a text)."""
    return ue[0] if len(ue) == 1 and type(ue[0][0]) is str else ue


def kept_peers(peers: tuple[FarPeer, ...]) -> KeptPeers:
    """``peers`` as a session keeps them (``peers_kept``: one alone, told from a tuple of
    them by its first item, an address)."""
    return peers[0] if len(peers) == 1 else peers


_HEAD = record_head.pack
# A session as the constructor leaves the fields an establishment of a known shape does not
# set: `Establishment._establish` copies it (`_record.copy_slots`) and sets the others. Never
# changed.
BLANK_SESSION = Session(0, 0, "", FSEID(0, None, None), b"", ())
# (the usual session's record, `Session.record`'s binary one, written in C: None for others)
_write_usual = RecordWriter(Session, OneBook, UrrBook, FIXED_OCTETS, ZERO, NO_TIME, NO_DROPS).write
# (`Session.record` inline where many are written, `GroupCommit._commit`: this, then
# `Session.python_record` when it declines; a record is never empty)
write_usual = _write_usual


def _applications(rules: RuleSet) -> frozenset[str]:
    apps = set()
    for pdr in rules.pdr.values():
        for pdi in pdr.ies:  # (`get`, inline, twice: every PDR at every change)
            if pdi.type == T.PDI:
                if isinstance(pdi, Grouped):
                    for app in pdi.ies:
                        if app.type == T.APPLICATION_ID:
                            if isinstance(app, ApplicationID):
                                apps.add(app.text)
                            break
                break
    return frozenset(apps) if apps else NO_APPS


def ue_texts(
    ue: list[tuple[str, IPNetwork]], known: dict[int, tuple[str, str]] | None = None
) -> tuple[tuple[str, str], ...]:
    """(network instance, str(network)) of each allocation; ``known``: the texts at hand
    (`Allocations.texts`)."""
    if known:
        out = []
        for name, net in ue:
            texts = known.get(id(net))
            out.append((name, texts[1] if texts is not None else str(net)))
        return tuple(out)
    return tuple([(name, str(net)) for name, net in ue])


def ue_network(text: str) -> IPNetwork:
    """The network of ``text`` (as `ue_texts` writes it: "address/prefix length")."""
    address, _, plen = text.partition("/")
    if plen.isdigit() and plen.isascii() and "." in address:
        try:
            value = int.from_bytes(socket.inet_pton(socket.AF_INET, address), "big")
        except OSError:
            pass
        else:  # (from the integer: parsing the text costs twice as much)
            return ipaddress.IPv4Network((value, int(plen)))
    return ipaddress.ip_network(text)


def program_peers(program: SessionProgram) -> tuple[tuple[IPAddress, int], ...]:
    return tuple(
        f.outer_header_creation for f in program.fars if f.outer_header_creation is not None
    )
