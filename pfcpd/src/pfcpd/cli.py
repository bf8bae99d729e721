"""The ``pfcpd`` command: one subcommand per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pfcpd", description="PFCP (N4) daemon of the UPF")
    sub = parser.add_subparsers(dest="command", required=True)

    decode = sub.add_parser(
        "decode",
        help="print the PFCP messages of a pcap/pcapng or hex-lines file as JSON lines",
    )
    decode.add_argument("file", help="pcap, pcapng (UDP port 8805) or text file of hex lines")
    decode.add_argument("--port", type=int, default=8805, help="UDP port of PFCP (default 8805)")
    decode.set_defaults(func=_cmd_decode)

    replay = sub.add_parser(
        "replay",
        help="replay a capture's session requests into the session engine, answers compared",
    )
    replay.add_argument("file", help="pcap, pcapng (UDP port 8805) or text file of hex lines")
    replay.add_argument(
        "--config", required=True, metavar="FILE", help="N3 address and UE pools from here"
    )
    replay.add_argument("--port", type=int, default=8805, help="UDP port of PFCP (default 8805)")
    replay.set_defaults(func=_cmd_replay)

    run = sub.add_parser("run", help="run the PFCP daemon in the foreground (systemd Type=notify)")
    run.add_argument("--config", required=True, metavar="FILE", help="YAML configuration file")
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser("check-config", help="validate a configuration file; exit 0 or 1")
    check.add_argument("file", nargs="?", help="YAML configuration file")
    check.add_argument(
        "--schema", action="store_true", help="print the configuration's JSON Schema instead"
    )
    check.set_defaults(func=_cmd_check_config, parser=check)

    show = sub.add_parser("show", help="show the running daemon's state (admin socket)")
    show.add_argument("what", choices=["associations", "sessions", "paths"])
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show.add_argument(
        "--seid",
        type=lambda text: int(text, 0),
        metavar="N",
        help="sessions: only the one with this UP SEID (decimal or 0x hex)",
    )
    _admin_socket_args(show)
    show.set_defaults(func=_cmd_show)

    from .smfsim.loadgen import build_parser as loadgen_parser

    loadgen = loadgen_parser(
        sub.add_parser("loadgen", help="SMF load generator: sessions/s and latency against a UPF")
    )
    loadgen.set_defaults(func=_cmd_loadgen)

    _simulator_parsers(sub)

    release = sub.add_parser(
        "release", help="ask a CP to release its association (UP-initiated release)"
    )
    release.add_argument("what", choices=["association"])
    release.add_argument("node_id", help="the CP's Node ID, as `pfcpd show associations` lists it")
    _admin_socket_args(release)
    release.set_defaults(func=_cmd_release)
    return parser


def _simulator_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``pfcpd smfsim`` (scenarios, load) and ``pfcpd gnbsim`` (docs/smfsim.md, gnbsim.md)."""
    from .gnbsim.cli import build_parser as gnbsim_parser
    from .smfsim.loadgen import build_parser as loadgen_parser
    from .smfsim.scenario import build_parser as scenario_parser

    smfsim = sub.add_parser("smfsim", help="SMF simulator: YAML scenarios, or load (loadgen)")
    modes = smfsim.add_subparsers(dest="smfsim_command", required=True)
    scenario_parser(modes.add_parser("run", help="run a YAML scenario against a UPF"))
    modes.choices["run"].set_defaults(func=_cmd_smfsim_run)
    loadgen_parser(modes.add_parser("load", help="the load generator (as pfcpd loadgen)"))
    modes.choices["load"].set_defaults(func=_cmd_loadgen)
    gnbsim = gnbsim_parser(sub.add_parser("gnbsim", help="gNB simulator: GTP-U traffic, measured"))
    gnbsim.set_defaults(func=_cmd_gnbsim)


def _cmd_smfsim_run(args: argparse.Namespace) -> int:
    from .smfsim.scenario import run_scenario

    return run_scenario(args)


def _cmd_gnbsim(args: argparse.Namespace) -> int:
    from .gnbsim.cli import run_gnbsim

    return run_gnbsim(args)


def _admin_socket_args(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", metavar="FILE", help="read admin.socket from this config")
    where.add_argument(
        "--socket", metavar="PATH", help="admin socket (default /run/pfcpd/admin.sock)"
    )


def _cmd_decode(args: argparse.Namespace) -> int:
    from .decode_command import run_decode

    return run_decode(args.file, port=args.port, out=sys.stdout, err=sys.stderr)


def _cmd_replay(args: argparse.Namespace) -> int:
    from .replay_command import run_replay

    return run_replay(args.file, args.config, port=args.port, out=sys.stdout, err=sys.stderr)


def _cmd_run(args: argparse.Namespace) -> int:
    from .daemon.run import run

    return run(args.config)


def _cmd_check_config(args: argparse.Namespace) -> int:
    from .check_config_command import run_check_config, schema_text

    if args.schema:
        sys.stdout.write(schema_text())
        return 0
    if args.file is None:
        args.parser.error("a configuration FILE (or --schema) is required")
    return run_check_config(args.file, out=sys.stdout, err=sys.stderr)


def _cmd_show(args: argparse.Namespace) -> int:
    from .show_command import run_show

    return run_show(
        args.what,
        seid=args.seid,
        config=args.config,
        socket_path=args.socket,
        as_json=args.json,
        out=sys.stdout,
        err=sys.stderr,
    )


def _cmd_loadgen(args: argparse.Namespace) -> int:
    from .smfsim.loadgen import run_loadgen

    return run_loadgen(args)


def _cmd_release(args: argparse.Namespace) -> int:
    from .show_command import run_release

    return run_release(
        args.node_id, config=args.config, socket_path=args.socket, out=sys.stdout, err=sys.stderr
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
