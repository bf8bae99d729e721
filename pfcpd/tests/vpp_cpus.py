"""How a test starts VPP with worker threads: the command line and the `cpu` stanza.

VPP gives its main thread and each worker a CPU of its own: it takes them from
/sys/devices/system/cpu/online and refuses to start when that lists too few ("no
available cpus to be used for the 'workers' thread"). The tests with workers check
behaviour (a session's packets handed to its owner thread, per-worker counters, changes
published without the barrier), which needs the threads, not a core each. On a machine with
fewer CPUs than main + workers, VPP starts in a mount namespace of its own (unshare -m)
in which that file lists main + workers CPUs, with `cpu { use-pthreads }` so the workers
are started as plain threads pinned to CPU 0 instead of to CPUs that do not exist. The
threads then share the real CPUs: slower, and the same code paths.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class NoCpuView(Exception):
    """VPP cannot be given the CPU view it needs here (the skip reason)."""


def vpp_command(vpp: str, conf: Path, workers: int, tmp: Path) -> tuple[list[str], str]:
    """(argv that starts VPP with ``conf``, the body of its ``cpu { }`` stanza)."""
    if workers == 0:
        return [vpp, "-c", str(conf)], ""
    cpus = len(os.sched_getaffinity(0))
    if cpus >= workers + 1:
        return [vpp, "-c", str(conf)], f"main-core 0 workers {workers}"
    unshare = shutil.which("unshare")
    if unshare is None:
        raise NoCpuView(
            f"VPP with {workers} workers needs {workers + 1} CPUs (this machine has {cpus}) "
            "or unshare (util-linux) to start it with a view of as many"
        )
    online = tmp / "cpu-online"
    online.write_text(f"0-{workers}\n")
    script = f'mount --bind {online} /sys/devices/system/cpu/online && exec "$0" "$@"'
    argv = [unshare, "-m", "--propagation", "private", "sh", "-c", script, vpp, "-c", str(conf)]
    return argv, f"use-pthreads workers {workers}"
