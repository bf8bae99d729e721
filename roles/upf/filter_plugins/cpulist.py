"""Kernel CPU list filters ("0-3,8" <-> [0, 1, 2, 3, 8]) and the kernel command line comparison."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def cpulist_expand(value: str | int | list) -> list[int]:
    """Expand a kernel CPU list ("2-5,8", flags such as "domain," ignored) into sorted CPUs."""
    if isinstance(value, list):
        return sorted({int(c) for c in value})
    cpus: set[int] = set()
    for part in str(value).replace(" ", "").split(","):
        if not part or part.isalpha() or "_" in part:
            continue  # empty, or an isolcpus flag (domain, managed_irq, nohz)
        first, sep, last = part.partition("-")
        try:
            lo = int(first)
            hi = int(last) if sep else lo
        except ValueError as exc:
            raise AnsibleFilterError(f"not a CPU list: {value!r}") from exc
        if hi < lo:
            raise AnsibleFilterError(f"not a CPU list: {value!r} (range {part} is reversed)")
        cpus.update(range(lo, hi + 1))
    return sorted(cpus)


def cpulist_compact(cpus: list[int]) -> str:
    """Write sorted CPUs the way the kernel does: [2, 3, 4, 5, 8] -> "2-5,8"."""
    out: list[str] = []
    cpus = sorted({int(c) for c in cpus})
    i = 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        out.append(str(cpus[i]) if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return ",".join(out)


def kernel_cmdline_params(cmdline: str) -> dict[str, str]:
    """Parameters of a kernel command line as a dict (a later occurrence wins, as in the kernel)."""
    params: dict[str, str] = {}
    for token in cmdline.split():
        key, _, value = token.partition("=")
        params[key] = value
    return params


# Parameters whose value is a CPU list: compared as sets (isolcpus also by its flags).
CPULIST_PARAMS = frozenset({"isolcpus", "nohz_full", "rcu_nocbs", "irqaffinity"})


def _hugepage_pairs(tokens: list[str]) -> dict[str, dict[str, int]]:
    """{size: {node or "*": count}} from hugepagesz=S hugepages=N pairs (N may be 0:4,1:4)."""
    pairs: dict[str, dict[str, int]] = {}
    size = None
    for token in tokens:
        key, _, value = token.partition("=")
        if key == "hugepagesz":
            size = value
        elif key == "hugepages" and size is not None:
            counts: dict[str, int] = {}
            for part in value.split(","):
                node, sep, count = part.rpartition(":")
                try:
                    counts[node if sep else "*"] = int(count)
                except ValueError as exc:
                    raise AnsibleFilterError(f"not a hugepages= value: {value!r}") from exc
            pairs[size] = counts
            size = None
    return pairs


def _cpu_value(value: str) -> tuple[list[str], list[int]]:
    flags = sorted(p for p in value.split(",") if p and (p.isalpha() or "_" in p))
    return flags, cpulist_expand(value)


def kernel_cmdline_missing(running: str, wanted: list[str]) -> list[str]:
    """The wanted parameters the running command line lacks (CPU lists compared as sets,
    hugepages per size and node; a later occurrence wins, as in the kernel)."""
    have_tokens = running.split()
    have = kernel_cmdline_params(running)
    have_pages = _hugepage_pairs(have_tokens)
    want_pages = _hugepage_pairs(wanted)
    missing: list[str] = []
    for size, counts in want_pages.items():
        if have_pages.get(size) != counts:
            value = ",".join(f"{n}:{c}" if n != "*" else str(c) for n, c in counts.items())
            missing.append(f"hugepagesz={size} hugepages={value}")
    for token in wanted:
        key, _, value = token.partition("=")
        if key in ("hugepagesz", "hugepages"):
            continue
        if key not in have:
            missing.append(token)
        elif key in CPULIST_PARAMS:
            if _cpu_value(have[key]) != _cpu_value(value):
                missing.append(token)
        elif have[key] != value:
            missing.append(token)
    return missing


class FilterModule:
    def filters(self) -> dict:
        return {
            "cpulist_expand": cpulist_expand,
            "cpulist_compact": cpulist_compact,
            "kernel_cmdline_params": kernel_cmdline_params,
            "kernel_cmdline_missing": kernel_cmdline_missing,
        }
