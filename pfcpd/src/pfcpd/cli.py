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
    return parser


def _cmd_decode(args: argparse.Namespace) -> int:
    from .decode_command import run_decode

    return run_decode(args.file, port=args.port, out=sys.stdout, err=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
