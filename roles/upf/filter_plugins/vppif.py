"""VPP's interfaces (vpp_interfaces, by default upf_interfaces) as VPP names them, and the roles,
network instances and FIB tables pfcpd's vpp datapath gives them: one derivation, used by
roles/vpp (tasks/layout.yml), roles/pfcpd (its pfcpd_vpp_* defaults) and the checks across
roles (playbooks/tasks/consistency.yml)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

ROLES = ("n3", "n6", "n9")


def _iface(iface: Any) -> dict[str, Any]:
    if not isinstance(iface, dict):
        raise AnsibleFilterError(f"not an interface of vpp_interfaces: {iface!r}")
    return iface


def upf_vpp_ifname(iface: dict[str, Any]) -> str:
    """VPP's name of an interface: its `name` (a DPDK device, `pci`), or host-<host_if>
    (an af_packet interface)."""
    iface = _iface(iface)
    if "pci" in iface:
        return str(iface.get("name", ""))
    return f"host-{iface.get('host_if', '')}"


def upf_vpp_role(iface: dict[str, Any]) -> str | None:
    """The interface's role for pfcpd's vpp datapath: `role`, else its name when that is n3,
    n6 or n9, else none."""
    iface = _iface(iface)
    role = iface.get("role")
    if role is None and iface.get("name") in ROLES:
        role = iface["name"]
    return None if role is None else str(role)


def upf_vpp_table(iface: dict[str, Any]) -> int:
    """The FIB table (IPv4 and IPv6) VPP puts the interface in: `table`, else 0."""
    value = _iface(iface).get("table", 0)
    try:
        return int(value or 0)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"table of {upf_vpp_ifname(iface)}: not a number: {value!r}") from exc


def upf_vpp_role_interfaces(interfaces: list[dict[str, Any]], role: str) -> list[str]:
    """VPP's names of the interfaces of role `role` (n3, n6, n9), in their order."""
    return [upf_vpp_ifname(i) for i in interfaces if upf_vpp_role(i) == role]


def upf_vpp_network_instance(iface: dict[str, Any], network_instances: Any) -> str | None:
    """The network instance an N6 interface serves: `network_instance`, else the first of
    `network_instances` (pfcpd_network_instances)."""
    name = _iface(iface).get("network_instance")
    if name is not None:
        return str(name)
    return next(iter(network_instances or {}), None)


def upf_vpp_network_instances(
    interfaces: list[dict[str, Any]], network_instances: Any
) -> dict[str, dict[str, Any]]:
    """datapath.vpp.network_instances of pfcpd: for each network instance with N6 interfaces,
    those interfaces and, as its IPv4 and IPv6 FIB tables, the table of the first of them
    (network instances without an N6 interface get no entry: pfcpd's defaults, table 0)."""
    out: dict[str, dict[str, Any]] = {}
    for iface in interfaces:
        if upf_vpp_role(iface) != "n6":
            continue
        name = upf_vpp_network_instance(iface, network_instances)
        if name is None:
            continue  # no network instance at all: pfcpd check-config refuses that
        table = upf_vpp_table(iface)
        entry = out.setdefault(
            name, {"n6_interfaces": [], "ip4_table_id": table, "ip6_table_id": table}
        )
        entry["n6_interfaces"].append(upf_vpp_ifname(iface))
    return out


def upf_vpp_datapath_mismatches(
    datapath: dict[str, Any],
    interfaces: list[dict[str, Any]],
    network_instances: Any,
) -> list[str]:
    """What in pfcpd's datapath.vpp (`datapath`: api_socket is not looked at) VPP's interfaces
    contradict: an interface pfcpd gives a role that VPP does not have, an N6 interface of a
    network instance VPP puts in another FIB table than the instance's, a network instance
    pfcpd does not have, and N6 settings on an interface that is no N6 interface. Each names
    the variables."""
    names = [upf_vpp_ifname(i) for i in interfaces]
    by_name = {upf_vpp_ifname(i): i for i in interfaces}
    problems: list[str] = []

    def unknown(var: str, listed: Any) -> None:
        missing = [n for n in listed or [] if n not in names]
        if missing:
            problems.append(
                f"{var} names {', '.join(missing)}, not an interface of vpp_interfaces "
                f"(upf_interfaces; VPP names them {', '.join(names) or 'none'})"
            )

    unknown("pfcpd_vpp_n3_interfaces", datapath.get("n3_interfaces"))
    unknown("pfcpd_vpp_n9_interfaces", datapath.get("n9_interfaces"))
    instances = datapath.get("network_instances") or {}
    for name, entry in instances.items():
        var = f"pfcpd_vpp_network_instances.{name}"
        if name not in (network_instances or {}):
            problems.append(f"{var}: {name} is not a network instance of pfcpd_network_instances")
        entry = entry or {}
        unknown(f"{var}.n6_interfaces", entry.get("n6_interfaces"))
        for ifname in entry.get("n6_interfaces") or []:
            if ifname not in by_name:
                continue
            table = upf_vpp_table(by_name[ifname])
            for key in ("ip4_table_id", "ip6_table_id"):
                if int(entry.get(key) or 0) != table:
                    problems.append(
                        f"{var}.{key}={entry.get(key) or 0} but VPP puts its N6 interface "
                        f"{ifname} in FIB table {table} (the table of upf_interfaces {by_name[ifname].get('name')})"
                    )
    for iface in interfaces:
        where = f"upf_interfaces {iface.get('name')}"
        if upf_vpp_role(iface) != "n6" and "network_instance" in iface:
            problems.append(f"{where}: network_instance is for N6 interfaces (role n6)")
        name = iface.get("network_instance")
        if name is not None and name not in (network_instances or {}):
            problems.append(
                f"{where}: network_instance {name} is not a network instance of pfcpd_network_instances"
            )
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "upf_vpp_ifname": upf_vpp_ifname,
            "upf_vpp_role": upf_vpp_role,
            "upf_vpp_table": upf_vpp_table,
            "upf_vpp_role_interfaces": upf_vpp_role_interfaces,
            "upf_vpp_network_instances": upf_vpp_network_instances,
            "upf_vpp_datapath_mismatches": upf_vpp_datapath_mismatches,
        }
