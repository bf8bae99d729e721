"""Kernel CPU list filters: "0-3,8" <-> [0, 1, 2, 3, 8], and kernel command line parsing."""

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


class FilterModule:
    def filters(self) -> dict:
        return {
            "cpulist_expand": cpulist_expand,
            "cpulist_compact": cpulist_compact,
            "kernel_cmdline_params": kernel_cmdline_params,
        }
