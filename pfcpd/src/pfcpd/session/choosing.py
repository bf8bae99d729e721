"""What a request's PDRs are given: each F-TEID with CH and UE IP Address with CHV4/CHV6
filled in (`Choosing._allocate`, by the `PdrPlan` of each Create PDR, or PDR an Update PDR
changed, that asks for one), the TEIDs and UE addresses taken for them, and what one request
took (`Allocations`: its Created PDRs, and a modification's Updated PDRs; given back when the
request fails).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import itertools
import socket
from collections.abc import Collection, Iterable

from ..datapath.interface import IPNetwork
from ..pfcp import IE, Cause, Grouped, IEType, encode_groups
from ..pfcp.ies_address import FTEID, UEIPAddress
from ..pfcp.ies_scalar import PDRID
from ..pfcp.ies_text import UEIPAddressPoolIdentity
from .addresses import remember_network
from .allocation import Exhausted
from .compile import Chosen, network_instance_name, ue_networks
from .errors import RuleError
from .rules import RuleSet
from .shapes import PER_SESSION_PDI, SHAPE_ENTRIES, PdrPlan, pdi_slots, plan_pieces, remember
from .state import EngineState

T = IEType


class Allocations:
    """What one request took (given back if the request fails)."""

    __slots__ = ("created", "teids", "texts", "ue")

    def __init__(self) -> None:
        self.teids: list[int] = []
        self.ue: list[tuple[str, IPNetwork]] = []
        # PDR ID -> the children of its Created PDR: its PDR ID, then the IEs chosen
        self.created: dict[int, list[IE]] = {}
        # id(UE network) -> (its address's text, str(network)): of the networks in ``ue``
        self.texts: dict[int, tuple[str, str]] = {}


@functools.lru_cache(maxsize=1024)
def pdr_id_ie(pdr_id: int) -> PDRID:
    return PDRID(pdr_id)


class Choosing(EngineState):
    def _allocate(self, rules: RuleSet, alloc: Allocations) -> dict[int, bytes | Chosen]:
        """Fill in every F-TEID with CH and UE IP Address with CHV4/CHV6 of ``rules``' PDRs
        (PDRs with one CHOOSE ID share one F-TEID; a session has one UE address per
        network instance and family). Returns the shapes of the PDRs filled in whose every
        F-TEID and UE IP Address was chosen here (`compile_pdrs`): id(new group) -> the
        octets of the group as it came, with the first F-TEID and UE IP Address chosen."""
        by_choose_id: dict[int, FTEID] = {}
        ue_by_family: dict[tuple[str, int], IPNetwork] = {}
        shapes: dict[int, bytes | Chosen] = {}
        plans = self.memos.plans
        for pdr_id, pdr in rules.pdr.items():
            raw = pdr.raw
            plan = plans.get(raw) if raw is not None else None
            if plan is None:
                plan = self._pdr_plan(pdr_id, pdr)
                if plan is None:
                    continue  # (nothing to fill in: not kept, its octets may be a session's)
                if raw is not None:
                    remember(plans, raw, plan, SHAPE_ENTRIES)
            pdi = pdr.ies[plan.pdi_at]
            assert isinstance(pdi, Grouped)
            children = list(pdi.ies)
            fteid: FTEID | None = None  # (the first of each filled in)
            ue: UEIPAddress | None = None
            for at in plan.filled:
                child = children[at]
                if isinstance(child, FTEID):
                    got = children[at] = self._choose_fteid(pdr_id, child, by_choose_id, alloc)
                    fteid = fteid or got
                else:
                    assert isinstance(child, UEIPAddress)
                    pool, pool6 = plan.pool, plan.pool6
                    if pool is None:  # (raises what made the plan without one)
                        pool = self._ue_pool_instance(pdr_id, pdr, pdi)
                        if child.choose_v6:
                            pool6 = self._ue_pool_instance(pdr_id, pdr, pdi, 6)
                    chosen = children[at] = self._choose_ue(
                        pdr_id, child, pool, ue_by_family, alloc, pool6
                    )
                    ue = ue or chosen
            # (new groups: the request's stay as they came, `RuleSet.create`)
            new_pdi = Grouped(pdi.type, children)
            new = Grouped(pdr.type, [new_pdi if c is pdi else c for c in pdr.ies])
            if raw is not None:
                new.raw = plan.octets(pdr.type, pdi.type, children)
                if not plan.given:  # (then its F-TEIDs and UE addresses are all filled in)
                    shapes[id(new)] = Chosen(raw, fteid, ue)
            rules.pdr[pdr_id] = new
        return shapes

    def _take_given_fteids(
        self, pdrs: Iterable[Grouped], alloc: Allocations, own: Collection[int] = ()
    ) -> bool:
        """TS 29.244 5.5.1: the UP function allocates F-TEIDs (it advertises FTUP), and
        refuses a request that gives a PDR an F-TEID the CP allocated (without CH) with cause
        71 "Invalid F-TEID allocation option", the F-TEID as Offending IE; unless
        `pfcp.cp_allocated_fteids` is ``accept`` (SMFs that allocate F-TEIDs themselves, as
        UP functions of Release 15 let them): then each is taken for the session
        (``alloc``), as a restoration's are (`_take_given_fteid`), PDRs of the request giving
        the same one sharing it. ``pdrs``: the request's Create PDR and Update PDR groups (an
        Update PDR without PDI leaves the PDR's F-TEID as it is); ``own``: the TEIDs the
        session holds, which it may give a PDR again at our N3 address (a modification's).
        The rules the engine keeps carry the F-TEIDs it filled in or took: they are never
        checked here (a modification's other PDRs, a session restored from its record).
        True when one was taken."""
        accept = self.settings.accept_cp_fteids
        taken: set[int] = set()  # (TEIDs this request took: its PDRs share them)
        for pdr in pdrs:
            pdi = pdr.get(T.PDI)
            if not isinstance(pdi, Grouped):
                continue
            for child in pdi.ies:
                if not isinstance(child, FTEID) or child.choose or self._owned(child, own):
                    continue
                pdr_id = pdr.get(T.PDR_ID)
                number = int(pdr_id.value) if isinstance(pdr_id, PDRID) else 0
                if not accept:
                    raise RuleError(
                        Cause.INVALID_F_TEID_ALLOCATION_OPTION,
                        f"PDR {number}: F-TEID 0x{child.teid or 0:x} allocated by the CP (no"
                        " CH); the UP function allocates F-TEIDs (FTUP)",
                        offending_ie=T.F_TEID,
                    )
                if not self._owned(child, taken):
                    taken.add(self._take_given_fteid(number, child, alloc, "CP-allocated"))
        return bool(taken)

    def _take_given_fteid(self, pdr_id: int, fteid: FTEID, alloc: Allocations, what: str) -> int:
        """Take the TEID of ``fteid``, an F-TEID the CP gives a PDR (``what``: why it may),
        for the session (``alloc``): it must be at our N3 address and its TEID free, else
        71 "Invalid F-TEID allocation option" with the F-TEID as Offending IE. The TEID."""
        teid = fteid.teid or 0
        if not self._owned(fteid, (teid,)):
            n3 = self.settings.n3_address
            problem = f"is not on our N3 address {n3}"
        elif not self.teids.reserve(teid):
            problem = "is another session's" if teid else "has TEID 0"
        else:
            alloc.teids.append(teid)
            return teid
        raise RuleError(
            Cause.INVALID_F_TEID_ALLOCATION_OPTION,
            f"PDR {pdr_id}: {what} F-TEID 0x{teid:x} {problem}",
            offending_ie=T.F_TEID,
        )

    def _take_given_ue(
        self,
        pdrs: Iterable[Grouped],
        alloc: Allocations,
        own: Collection[tuple[str, IPNetwork]] = (),
    ) -> bool:
        """The UE addresses and prefixes the CP gives PDRs (a UE IP Address without
        CHV4/CHV6, TS 29.244 5.21.1) inside the UE pools of their network instance
        (`_ue_pool_instance`): taken from the pools for the session (``alloc``: given back
        with its other allocations), so that no pool hands them to another session; one
        that overlaps the pools' values without being one (another prefix length) holds
        those values while the session has it (as a restoration's does, `_take_restored`).
        One that a pool handed out to another session, or holds for one, cannot be
        created: the datapath would refuse the session's program (its downlink key is the
        other session's) naming no rule. It is refused here, 73 with the PDR's Failed Rule
        ID (TS 29.244 Table 7.5.3.1-1). ``pdrs``: the request's Create PDR and Update PDR
        groups; ``own``: the session's (network instance, network) allocations, which it
        may give a PDR again. An address outside the pools is the CP's: nothing taken.
        True when one was taken (or held)."""
        pools = self.ue_pools
        given: set[tuple[str, IPNetwork]] = set()  # (taken here: the PDRs share them)
        for pdr in pdrs:
            pdi = pdr.get(T.PDI)
            if not isinstance(pdi, Grouped):
                continue
            for child in pdi.ies:
                if not isinstance(child, UEIPAddress):
                    continue
                for net in ue_networks(child):
                    if child.choose_v4 if net.version == 4 else child.choose_v6:
                        continue  # (one is allocated, whatever it gives: `_choose_ue`)
                    pdr_id_ie = pdr.get(T.PDR_ID)
                    pdr_id = int(pdr_id_ie.value) if isinstance(pdr_id_ie, PDRID) else 0
                    try:
                        instance = self._ue_pool_instance(pdr_id, pdr, pdi, net.version)
                    except RuleError:
                        continue  # (no pools of its own: the CP's address)
                    key = (instance, net)
                    if key in own or key in given:
                        continue
                    if pools.reserve(instance, net):  # (a free value of a pool)
                        given.add(key)
                        alloc.ue.append(key)
                        continue
                    if not pools.taken(instance, net):
                        if not pools.owned(instance, net) and pools.hold(instance, net):
                            given.add(key)  # (overlapping values held: `_take_restored`)
                            alloc.ue.append(key)
                        continue
                    raise RuleError(
                        Cause.RULE_CREATION_MODIFICATION_FAILURE,
                        f"PDR {pdr_id}: UE address {net} ({instance}) is another session's",
                        failed_rule=(0, pdr_id),
                    )
        return bool(given)

    def _take_restored(self, rules: RuleSet, alloc: Allocations) -> None:
        """A restoration (PFCPSEReq-Flags RESTI; TS 29.244 5.5.1, TS 23.527 4.3.2): the CP
        re-establishes a session this UP function no longer has, with the F-TEIDs (and UE
        addresses) the UP function allocated to it before. Every F-TEID without CH must be
        at our N3 address (else 71, as `_take_given_fteid` refuses) and its TEID in use
        by no other session (else 71, the F-TEID as Offending IE): it is taken again. A UE
        address without CHV4/CHV6 inside a UE pool of its PDR's network instance is taken
        again too (another session holding it: 64), and one that overlaps a pool's values
        otherwise (an address without the pool's prefix length) holds them while the
        session has it; one outside the pools is the CP's."""
        teids: set[int] = set()
        ues: set[tuple[str, IPNetwork]] = set()
        for pdr_id, pdr in rules.pdr.items():
            pdi = pdr.get(T.PDI)
            if not isinstance(pdi, Grouped):
                continue
            for child in pdi.ies:
                if isinstance(child, FTEID) and not child.choose:
                    if not self._owned(child, teids):
                        teids.add(self._take_given_fteid(pdr_id, child, alloc, "restored"))
                elif isinstance(child, UEIPAddress) and not (child.choose_v4 or child.choose_v6):
                    for net in ue_networks(child):
                        instance = self._ue_pool_instance(pdr_id, pdr, pdi, net.version)
                        if (instance, net) in ues:
                            continue
                        if self.ue_pools.reserve(instance, net):
                            ues.add((instance, net))
                            alloc.ue.append((instance, net))
                        elif self.ue_pools.owned(instance, net):
                            raise RuleError(
                                Cause.REQUEST_REJECTED,
                                f"PDR {pdr_id}: restored UE address {net} ({instance}) is"
                                " another session's",
                            )
                        elif self.ue_pools.hold(instance, net):
                            # (overlapping pools' values, not a value of one: held in use
                            # while the session has it, as a restart does, `restore`)
                            ues.add((instance, net))
                            alloc.ue.append((instance, net))

    def _owned(self, fteid: FTEID, own: Collection[int]) -> bool:
        """``fteid`` is one of ``own`` TEIDs at our N3 address."""
        if fteid.teid not in own:
            return False
        n3 = self.settings.n3_address
        text = fteid.ipv4 if n3.version == 4 else fteid.ipv6
        return text is not None and ipaddress.ip_address(text) == n3

    def _pdr_plan(self, pdr_id: int, pdr: Grouped) -> PdrPlan | None:
        """The `PdrPlan` of a Create PDR, None when its PDI asks for nothing to be filled
        in. What it holds depends on the PDR's octets (and the engine's settings) alone."""
        pdi = pdr.get(T.PDI)
        assert isinstance(pdi, Grouped)
        pdi_at = next(i for i, c in enumerate(pdr.ies) if c is pdi)
        raw = pdr.raw
        # Where the F-TEIDs and UE IP Addresses are: found in the octets (`pdi_slots`, as
        # `pdr_shape` finds them), or among the children of a group without octets.
        positions = [i for i, c in enumerate(pdi.ies) if c.type in PER_SESSION_PDI]
        found = pdi_slots(raw) if raw is not None else None
        if found is not None and (
            found.pdi_at != pdi_at or [p for p, _, _ in found.slots] != positions
        ):
            found = None  # (not reached: a group keeps octets that are its children's)
        filled: list[int] = []
        given = False  # an F-TEID or UE address the CP gave (in the octets)
        asks_ue = asks_v6 = False
        for at in positions:
            child = pdi.ies[at]
            if isinstance(child, FTEID):
                if child.choose:
                    filled.append(at)
                else:
                    given = True
            elif isinstance(child, UEIPAddress):
                if child.choose_v4 or child.choose_v6:
                    given = given or child.ipv4 is not None or child.ipv6 is not None
                    filled.append(at)
                    asks_ue = True
                    asks_v6 = asks_v6 or child.choose_v6
                else:
                    given = True
        if not filled:
            return None
        pool = pool6 = None
        if asks_ue:
            # (raised again when its UE address is chosen: the plan then has no ``pool``)
            with contextlib.suppress(RuleError):
                if asks_v6:
                    pool6 = self._ue_pool_instance(pdr_id, pdr, pdi, 6)
                pool = self._ue_pool_instance(pdr_id, pdr, pdi)
            pool6 = None if pool6 == pool else pool6
        head = tail = b""
        pieces: tuple[bytes, ...] | None = None
        if found is not None and raw is not None:
            # The octets around the IEs filled in, cut from the CP's; encoded instead when
            # the CP's are not what encoding the IEs they hold gives (what encoding the
            # filled-in group gives is the bar: `encode_groups`).
            head, tail, pieces = plan_pieces(raw, tuple(filled))
            bounds = [-1, *filled, len(pdi.ies)]
            encoded = tuple(
                [encode_groups(pdi.ies[a + 1 : b]) for a, b in itertools.pairwise(bounds)]
            )
            before, after = encode_groups(pdr.ies[:pdi_at]), encode_groups(pdr.ies[pdi_at + 1 :])
            if (head, tail, pieces) != (before, after, encoded):
                head, tail, pieces = before, after, encoded
        return PdrPlan(pdi_at, tuple(filled), pool, given, head, tail, pieces, pool6)

    def _choose_fteid(
        self,
        pdr_id: int,
        want: FTEID,
        by_choose_id: dict[int, FTEID],
        alloc: Allocations,
        copy: bool = True,
    ) -> FTEID:
        """The F-TEID chosen for ``want`` (CH): the one chosen before for its CHOOSE ID, else
        a new TEID on our N3 address. It goes in the PDR's Created PDR; ``copy``: the PDR
        gets a copy of it (False: the F-TEID itself, for a caller that keeps neither). CH
        with V4 or V6 asks for an address of that version (TS 29.244 8.2.3): one our N3
        address is not is refused with 71; CH with neither leaves the version to us."""
        choose_id = want.choose_id
        got = by_choose_id.get(choose_id) if choose_id is not None else None
        if got is None:
            ipv4, ipv6 = self._n3_text  # (ipv4 set: our N3 address is IPv4)
            v4, v6 = want.choose_v4, want.choose_v6
            if (v4 or v6) and not (v4 if ipv4 is not None else v6):
                n3 = self.settings.n3_address
                raise RuleError(
                    Cause.INVALID_F_TEID_ALLOCATION_OPTION,
                    f"PDR {pdr_id}: F-TEID CH asks for no IPv{n3.version} address (our N3)",
                    offending_ie=T.F_TEID,
                )
            try:
                teid = self.teids.take()
            except Exhausted:
                raise self._teids_exhausted() from None
            alloc.teids.append(teid)
            got = FTEID(teid, ipv4, ipv6)
            if choose_id is not None:
                by_choose_id[choose_id] = got
        created = alloc.created.get(pdr_id)  # (`_created`, inline)
        if created is None:
            alloc.created[pdr_id] = [pdr_id_ie(pdr_id), got]
        else:
            created.append(got)
        return FTEID(got.teid, got.ipv4, got.ipv6) if copy else got

    def _choose_ue(
        self,
        pdr_id: int,
        want: UEIPAddress,
        instance: str,
        taken: dict[tuple[str, int], IPNetwork],
        alloc: Allocations,
        instance6: str | None = None,
    ) -> UEIPAddress:
        """The UE IP Address chosen for ``want`` (CHV4/CHV6): IPv4 from the UE pools of
        ``instance``, IPv6 from those of ``instance6`` (None: ``instance``'s), the address
        given for a family not chosen kept."""
        if want.choose_v4 and not want.choose_v6 and want.ipv6 is None:  # (the usual one)
            text = self._take_ue(pdr_id, instance, 4, taken, alloc)
            got = UEIPAddress(text, None, want.source)
            created = alloc.created.get(pdr_id)  # (`_created`, inline)
            if created is None:
                alloc.created[pdr_id] = [pdr_id_ie(pdr_id), got]
            else:
                created.append(got)
            return got
        nets: dict[int, IPNetwork] = {}
        texts: dict[int, str] = {}  # version -> the address's text, of those allocated
        for version, asked, given in (
            (4, want.choose_v4, want.ipv4),
            (6, want.choose_v6, want.ipv6),
        ):
            if not asked:
                if given is not None:
                    nets[version] = ue_networks(UEIPAddress(**{f"ipv{version}": given}))[0]  # type: ignore[arg-type]
                continue
            pool = (instance6 or instance) if version == 6 else instance
            texts[version] = self._take_ue(pdr_id, pool, version, taken, alloc)
            nets[version] = taken[(pool, version)]
        v4, v6 = nets.get(4), nets.get(6)
        got = UEIPAddress(
            ipv4=(texts.get(4) or _address_text(v4)) if v4 is not None else None,
            ipv6=(texts.get(6) or _address_text(v6)) if v6 is not None else None,
            source=want.source,
            ipv6_prefix_length=v6.prefixlen if v6 is not None and v6.prefixlen != 64 else None,
        )
        _created(alloc, pdr_id, got)
        return got

    def _take_ue(
        self,
        pdr_id: int,
        instance: str,
        version: int,
        taken: dict[tuple[str, int], IPNetwork],
        alloc: Allocations,
    ) -> str:
        """The text of the session's UE address (IPv6: prefix) of ``instance`` and
        ``version``: the one another PDR of the request took (``taken``), else a new one."""
        key = (instance, version)
        net = taken.get(key)
        if net is not None:
            return alloc.texts[id(net)][0]  # (another PDR's: made then)
        try:
            got = self.ue_pools.take_text(instance, version)
        except Exhausted:
            raise self._ue_refusal(pdr_id, instance, version, True) from None
        if got is None:
            raise self._ue_refusal(pdr_id, instance, version, False)
        net, text, net_text, prefixlen, _ = got
        alloc.ue.append((instance, net))
        taken[key] = net
        alloc.texts[id(net)] = (text, net_text)
        # (the PDRs naming the address then find the object allocated: `shared_network`)
        remember_network(text, net, prefixlen)
        return text

    def _teids_exhausted(self) -> RuleError:
        self.metrics.allocations.inc("teid")
        return RuleError(
            Cause.NO_RESOURCES_AVAILABLE, "local TEIDs exhausted", offending_ie=T.F_TEID
        )

    def _ue_refusal(self, pdr_id: int, instance: str, version: int, exhausted: bool) -> RuleError:
        """Why PDR ``pdr_id`` gets no UE address of ``instance``: its pools of ``version``
        are ``exhausted``, or it has none."""
        if exhausted:
            self.metrics.allocations.inc(f"ue_ipv{version}")
            return RuleError(
                Cause.ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED,
                f"network instance {instance!r}: IPv{version} UE pool exhausted",
            )
        return RuleError(
            Cause.RULE_CREATION_MODIFICATION_FAILURE,
            f"PDR {pdr_id}: network instance {instance!r} has no IPv{version} UE pool",
            failed_rule=(0, pdr_id),
        )

    def _ue_pool_instance(self, pdr_id: int, pdr: Grouped, pdi: Grouped, version: int = 4) -> str:
        """Whose UE pools a PDR's CHV4 (``version`` 4) or CHV6 (6) draws from: the network
        instance its UE IP Address Pool Identity names (pool identities are network
        instance names here; with two, the first is the IPv4 one and the second the IPv6
        one, TS 29.244 Table 7.5.2.2-1), else the PDI's network instance, else the first
        configured."""
        identities = pdr.get_all(T.UE_IP_ADDRESS_POOL_IDENTITY)
        pool = identities[1 if version == 6 and len(identities) > 1 else 0] if identities else None
        if isinstance(pool, UEIPAddressPoolIdentity):
            if pool.identity not in self.settings.ue_pools:
                raise RuleError(
                    Cause.RULE_CREATION_MODIFICATION_FAILURE,
                    f"PDR {pdr_id}: no UE pool identity {pool.identity!r}"
                    " (identities are network instance names)",
                    failed_rule=(0, pdr_id),
                )
            return pool.identity
        return network_instance_name(pdi) or self._default_instance()

    def _default_instance(self) -> str:
        return next(iter(self.settings.ue_pools), "")

    def _free(self, alloc: Allocations) -> None:
        for teid in alloc.teids:
            self.teids.free(teid)
        for name, net in alloc.ue:
            self.ue_pools.free(name, net)


assert not FTEID.CACHEABLE and not UEIPAddress.CACHEABLE  # (see `PdrPlan.octets`)


def _address_text(net: IPNetwork) -> str:
    """The text of ``net``'s address; ``net`` is then what `shared_network` gives for it
    (the PDRs naming the address find the object, no parsing)."""
    if net.version == 4:  # (what str() gives, a fifth of its cost)
        text = socket.inet_ntoa(int(net.network_address).to_bytes(4, "big"))
    else:
        text = str(net.network_address)
    remember_network(text, net)
    return text


def _created(alloc: Allocations, pdr_id: int, ie: IE) -> None:
    """``ie`` (chosen for PDR ``pdr_id``) goes in the PDR's Created PDR."""
    ies = alloc.created.get(pdr_id)
    if ies is None:
        alloc.created[pdr_id] = [pdr_id_ie(pdr_id), ie]
    else:
        ies.append(ie)


_CREATED_PDR = T.CREATED_PDR
_UPDATED_PDR = T.UPDATED_PDR


def created_pdrs(alloc: Allocations, updated: frozenset[int] = frozenset()) -> list[IE]:
    """The Created PDRs of what ``alloc`` chose: for every PDR but those of an Update PDR
    (``updated``: their IDs), which `updated_pdrs` answers."""
    if not updated:
        return [Grouped(_CREATED_PDR, ies) for ies in alloc.created.values()]
    return [Grouped(_CREATED_PDR, ies) for p, ies in alloc.created.items() if p not in updated]


def updated_pdrs(alloc: Allocations, updated: frozenset[int]) -> list[IE]:
    """The Updated PDRs (TS 29.244 Table 7.5.5.5-1: PDR ID, the Local F-TEID and UE IP
    Address allocated) of what ``alloc`` chose for the PDRs of an Update PDR (``updated``:
    their IDs) of a Session Modification Request."""
    if not updated:
        return []
    return [Grouped(_UPDATED_PDR, ies) for p, ies in alloc.created.items() if p in updated]
