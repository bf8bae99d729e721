"""A real `pfcpd run` on a multi-homed UPF associates to its SMF from the address the kernel
routes to the SMF from (the daemon gives the node its source-address probe,
`daemon.host_addresses`; `PfcpNode._endpoint_to`), not from the listen address listed first.

Two network namespaces: the UPF's, with a "management" interface m0 (10.97.1.1/24, listed
first in pfcp.listen) and an N4 interface n0 (10.97.2.1/24) whose peer n1 (10.97.2.2/24) is
in the SMF's namespace; the SMF at 10.97.9.9 on that namespace's loopback, reached from
the UPF through a route via n1 (and a route back to both UPF subnets, so that a request
from the wrong address still arrives and is told apart). The SMF (a script here) answers
the setup and the first heartbeat and says where each came from. Needs root; skips
otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns_tools import netns_missing, run
from node_harness import Pfcpd
from probe_namespace import SRC

SMF_ADDRESS = "10.97.9.9"
MGMT = "10.97.1.1"
N4 = "10.97.2.1"

# Run in the SMF's namespace: answer pfcpd's Association Setup Request and its first
# heartbeat; print where each came from (JSON), or what came by the deadline.
SMF = """
import json, socket, sys, time
from pfcpd.pfcp import Message, MessageType as M, decode, encode
from pfcpd.pfcp.ies_address import NodeID
from pfcpd.pfcp.ies_scalar import Cause, RecoveryTimeStamp
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((sys.argv[1], 8805))
deadline = time.monotonic() + float(sys.argv[2])
print("ready", flush=True)
seen = {}
ts = RecoveryTimeStamp(3_900_000_000)
while "heartbeat" not in seen and (left := deadline - time.monotonic()) > 0:
    sock.settimeout(left)
    try:
        data, source = sock.recvfrom(65535)
    except TimeoutError:
        break
    msg = decode(data)
    if msg.msg_type == M.ASSOCIATION_SETUP_REQUEST:
        seen.setdefault("setup", source[0])
        ies = [NodeID.from_text("smf.test"), Cause(1), ts]
        sock.sendto(encode(Message(M.ASSOCIATION_SETUP_RESPONSE, msg.seq, ies)), source)
    elif msg.msg_type == M.HEARTBEAT_REQUEST:
        seen["heartbeat"] = source[0]
        sock.sendto(encode(Message(M.HEARTBEAT_RESPONSE, msg.seq, [ts])), source)
print(json.dumps(seen), flush=True)
"""


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    """(the UPF's namespace, the SMF's), as the module's docstring says; deleted after."""
    why = netns_missing()
    if why is not None:
        pytest.skip(why)
    upf, smf = f"pfcpd-srcupf-{os.getpid()}", f"pfcpd-srcsmf-{os.getpid()}"
    made: list[str] = []
    try:
        for ns in (upf, smf):
            run("ip", "netns", "add", ns)
            made.append(ns)
            run("ip", "link", "set", "lo", "up", ns=ns)
        for command in (
            ("link", "add", "m0", "type", "veth", "peer", "name", "m1"),
            ("addr", "add", f"{MGMT}/24", "dev", "m0"),
            ("link", "set", "m0", "up"),
            ("link", "set", "m1", "up"),
            ("link", "add", "n0", "type", "veth", "peer", "name", "n1", "netns", smf),
            ("addr", "add", f"{N4}/24", "dev", "n0"),
            ("link", "set", "n0", "up"),
            ("route", "add", "10.97.9.0/24", "via", "10.97.2.2", "dev", "n0"),
        ):
            run("ip", *command, ns=upf)
        for command in (
            ("addr", "add", "10.97.2.2/24", "dev", "n1"),
            ("link", "set", "n1", "up"),
            ("addr", "add", f"{SMF_ADDRESS}/32", "dev", "lo"),
            ("route", "add", "10.97.1.0/24", "via", N4, "dev", "n1"),
        ):
            run("ip", *command, ns=smf)
        yield upf, smf
    finally:
        for ns in made:
            run("ip", "netns", "del", ns)


def test_the_setup_leaves_from_the_address_routed_to_the_smf(
    namespaces: tuple[str, str], tmp_path: Path
) -> None:
    """Was from 10.97.1.1 (the first listen address), setup and heartbeats alike."""
    upf, smf_ns = namespaces
    smf = subprocess.Popen(
        ["ip", "netns", "exec", smf_ns, sys.executable, "-c", SMF, SMF_ADDRESS, "20"],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=SRC),
    )
    daemon: Pfcpd | None = None
    try:
        assert smf.stdout is not None
        assert smf.stdout.readline() == "ready\n"
        overrides = {
            "pfcp": {
                "listen": [f"{MGMT}:8805", f"{N4}:8805"],
                "allowed_peers": ["10.97.9.0/24"],
                "associate_to": [SMF_ADDRESS],
                "heartbeat_interval": 0.5,
            }
        }
        daemon = Pfcpd(tmp_path, overrides, command_prefix=("ip", "netns", "exec", upf)).start()
        out, _ = smf.communicate(timeout=30)
        seen = json.loads(out)
        assert seen == {"setup": N4, "heartbeat": N4}, daemon.log()
        [record] = daemon.state_file()["associations"]
        assert (record["node_id"], record["local"]) == ("smf.test", f"{N4}:8805")
    finally:
        if smf.poll() is None:
            smf.kill()
            smf.wait()
        rc = 0 if daemon is None else daemon.stop()
    assert rc == 0, f"pfcpd exited {rc}; log:\n{daemon.log()}"
