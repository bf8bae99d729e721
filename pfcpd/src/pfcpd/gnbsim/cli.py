"""``pfcpd gnbsim run`` (the gNB) and ``pfcpd gnbsim respond`` (the DN's echo), docs/gnbsim.md."""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ..config import Endpoint, parse_endpoint
from .netns import enter
from .sim import GnbSimulator, Session

DN_PORT = 9000


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = (
        "gNB simulator: GTP-U on N3 for N sessions (PDU Session Container with the QFI), "
        "GTP-U echo answered, ICMP echo and UDP streams from each UE; loss, round-trip time "
        "and throughput per session. The DN side is `pfcpd gnbsim respond`."
    )
    sub = parser.add_subparsers(dest="gnbsim_command", required=True)
    run = sub.add_parser("run", help="send each session's traffic and measure it")
    run.add_argument("--gnb", required=True, help="our N3 address, IPv4 (GTP-U port 2152 is bound)")
    run.add_argument(
        "--sessions",
        metavar="FILE",
        help="sessions as JSON (pfcpd smfsim run --sessions-out): name, ue, upf, upf_teid, "
        "gnb_teid, qfi, and ue6 (the IPv6 address of a dual-stack session)",
    )
    run.add_argument(
        "--session",
        action="append",
        default=[],
        metavar="UE,UPF,UPF_TEID,GNB_TEID[,QFI]",
        help="one session (repeatable): UE address (IPv4 or IPv6), the UPF's N3 address and "
        "TEID (its F-TEID), our downlink TEID, the QFI (9; 0 sends no PDU Session Container)",
    )
    run.add_argument(
        "--dn",
        required=True,
        action="append",
        metavar="ADDR[:PORT]",
        help="DN address the UEs talk to, port 9000 unless given ([v6]:port); repeat it "
        "for one IPv4 and one IPv6 DN: each UE address talks to the DN of its IP version",
    )
    run.add_argument(
        "--ping", type=int, default=5, help="ICMP (ICMPv6) echo requests per UE address (5)"
    )
    run.add_argument("--udp-rate", type=float, default=1e6, help="UDP bit/s per session (1e6)")
    run.add_argument("--udp-size", type=int, default=500, help="UDP packets' IP octets (500)")
    run.add_argument(
        "--duration", type=float, default=2.0, help="seconds of UDP per session (2; 0: none)"
    )
    run.add_argument("--max-loss", type=float, help="exit 1 when a session loses more (0..1)")
    run.add_argument("--netns", metavar="NAME", help="run inside network namespace NAME")
    run.add_argument("--json", action="store_true", help="print JSON instead of a table")
    run.set_defaults(gnbsim_func=run_gnb)

    respond = sub.add_parser("respond", help="the DN side: echo the UEs' UDP back")
    respond.add_argument(
        "--listen",
        required=True,
        action="append",
        metavar="ADDR[:PORT]",
        help="address[:port] ([v6]:port; port 9000) to answer on; repeatable (IPv4 and IPv6)",
    )
    respond.add_argument("--no-echo", action="store_true", help="count only, send nothing back")
    respond.add_argument("--duration", type=float, help="seconds to run (default: until ^C)")
    respond.add_argument("--netns", metavar="NAME", help="run inside network namespace NAME")
    respond.set_defaults(gnbsim_func=run_respond)
    return parser


def run_gnbsim(args: argparse.Namespace) -> int:
    return int(args.gnbsim_func(args))


def parse_sessions(args: argparse.Namespace) -> list[Session]:
    sessions: list[Session] = []
    if args.sessions:
        for item in json.loads(Path(args.sessions).read_text()):
            qfi = int(item.get("qfi", 9))
            sessions.append(
                Session(
                    str(item["name"]),
                    str(item["ue"]),
                    str(item["upf"]),
                    int(item["upf_teid"]),
                    int(item["gnb_teid"]),
                    qfi or None,
                    str(item["ue6"]) if item.get("ue6") else None,
                )
            )
    for number, text in enumerate(args.session, len(sessions) + 1):
        parts = text.split(",")
        if len(parts) not in (4, 5):
            raise ValueError(f"--session {text!r}: UE,UPF,UPF_TEID,GNB_TEID[,QFI]")
        qfi = int(parts[4], 0) if len(parts) == 5 else 9
        sessions.append(
            Session(
                f"s{number}", parts[0], parts[1], int(parts[2], 0), int(parts[3], 0), qfi or None
            )
        )
    if not sessions:
        raise ValueError("no sessions: give --sessions FILE or --session ...")
    return sessions


def dn_by_version(texts: list[str]) -> dict[int, Endpoint]:
    """The ``--dn`` endpoints by IP version (ValueError for two of one version)."""
    out: dict[int, Endpoint] = {}
    for text in texts:
        dn = parse_endpoint(text, default_port=DN_PORT)
        version = 6 if ":" in dn.host else 4
        if version in out:
            raise ValueError(f"--dn {text}: a second IPv{version} DN (one per IP version)")
        out[version] = dn
    return out


def traffic_plan(
    sessions: list[Session], dns: dict[int, Endpoint]
) -> list[tuple[Session, Endpoint]]:
    """(session, DN) for each address of each session: the DN of the address's IP version
    (ValueError naming the session when there is none)."""
    plan = []
    for session in sessions:
        for address in session.addresses:
            version = 6 if ":" in address else 4
            if version not in dns:
                raise ValueError(f"session {session.name}: UE {address} needs an IPv{version} --dn")
            plan.append((session, dns[version]))
    return plan


def run_gnb(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    try:
        if ipaddress.ip_address(args.gnb).version != 4:
            raise ValueError(f"--gnb {args.gnb}: GTP-U runs over IPv4 here; an IPv4 address")
        sessions = parse_sessions(args)
        plan = traffic_plan(sessions, dn_by_version(args.dn))
    except (OSError, ValueError, KeyError) as exc:
        print(f"pfcpd gnbsim: {exc}", file=sys.stderr)
        return 2
    if args.netns:
        enter(args.netns)
    try:
        gnb = GnbSimulator(args.gnb, sessions)
    except OSError as exc:
        print(f"pfcpd gnbsim: cannot bind {args.gnb}:2152: {exc}", file=sys.stderr)
        return 2
    with gnb:
        for session, dn in plan:
            if args.ping:
                gnb.ping(session, dn.host, args.ping)
            if args.duration > 0:
                gnb.udp_stream(
                    session,
                    (dn.host, dn.port),
                    args.udp_size,
                    args.udp_rate,
                    duration=args.duration,
                )
        gnb.wait_quiet()
        report: dict[str, Any] = {name: stats.summary() for name, stats in gnb.stats.items()}
        echo, unmatched = gnb.echo_requests_answered, gnb.unmatched
    if args.json:
        print(json.dumps({"sessions": report, "echo_answered": echo, "unmatched": unmatched}))
    else:
        print(
            f"{'session':<10} {'UL pkts':>8} {'DL pkts':>8} {'pings':>7} {'UDP echoed':>11} "
            f"{'loss':>6} {'RTT p50':>8} {'RTT p99':>8} {'UL Mbit/s':>9} {'DL Mbit/s':>9} QFI",
            file=out,
        )
        for name, s in report.items():
            print(
                f"{name:<10} {s['ul_packets']:>8} {s['dl_packets']:>8} {s['pings']:>7} "
                f"{s['udp_echoed']:>11} {s['loss']:>6.2%} {s['rtt_p50_ms']:>6.2f}ms "
                f"{s['rtt_p99_ms']:>6.2f}ms {s['ul_bps'] / 1e6:>9.3f} {s['dl_bps'] / 1e6:>9.3f} "
                f"{s['dl_qfis']}",
                file=out,
            )
        print(f"GTP-U echo requests answered {echo}; unmatched messages {unmatched}", file=out)
    if args.max_loss is not None and any(s["loss"] > args.max_loss for s in report.values()):
        return 1
    return 0


def run_respond(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from .responder import UdpEchoResponder

    try:
        listens = [parse_endpoint(text, default_port=DN_PORT) for text in args.listen]
    except ValueError as exc:
        print(f"pfcpd gnbsim: {exc}", file=sys.stderr)
        return 2
    if args.netns:
        enter(args.netns)
    responders: list[UdpEchoResponder] = []
    try:
        for listen in listens:
            responders.append(UdpEchoResponder(listen.host, listen.port, echo=not args.no_echo))
            print(f"responding on {listen}", file=out, flush=True)
        deadline = time.monotonic() + args.duration if args.duration else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        for responder in responders:
            responder.close()
    for listen, responder in zip(listens, responders, strict=False):
        print(
            f"{listen}: received {responder.packets} datagrams ({responder.octets} IP octets) "
            f"from {len(responder.by_source)} address(es)",
            file=out,
        )
    return 0
