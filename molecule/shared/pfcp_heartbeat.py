#!/usr/bin/env python3
"""Send one PFCP Heartbeat Request (TS 29.244 7.4.4.1) and expect a Heartbeat Response.

Usage: pfcp_heartbeat.py [HOST [PORT]]  (default 127.0.0.1 8805). Exit 0 and print the
response's Recovery Time Stamp when a Heartbeat Response with our sequence number arrives.
Written from the specification, independent of pfcpd's codec.
"""

import os
import socket
import struct
import sys
import time

NTP_EPOCH_OFFSET = 2208988800  # 1900-01-01 -> 1970-01-01


def heartbeat_request(seq: int) -> bytes:
    recovery = struct.pack("!HHI", 96, 4, int(time.time()) + NTP_EPOCH_OFFSET)  # IE type 96
    # Version 1, no S flag; type 1; length after the first 4 octets; sequence (3 octets); spare.
    return struct.pack("!BBH", 0x20, 1, 4 + len(recovery)) + seq.to_bytes(3, "big") + b"\0" + recovery


def main() -> int:
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8805
    seq = int.from_bytes(os.urandom(3), "big")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2.0)
        for _ in range(3):
            sock.sendto(heartbeat_request(seq), (host, port))
            try:
                data, _peer = sock.recvfrom(65535)
            except TimeoutError:
                continue
            if len(data) < 8:
                print(f"short answer: {data.hex()}", file=sys.stderr)
                return 1
            version, msg_type, length = data[0] >> 5, data[1], struct.unpack("!H", data[2:4])[0]
            if version != 1 or msg_type != 2 or int.from_bytes(data[4:7], "big") != seq:
                print(f"not our Heartbeat Response: {data.hex()}", file=sys.stderr)
                return 1
            if length + 4 != len(data):
                print(f"length field {length} does not match {len(data)} octets", file=sys.stderr)
                return 1
            ie_type, ie_len = struct.unpack("!HH", data[8:12])
            if ie_type != 96 or ie_len != 4:
                print(f"no Recovery Time Stamp IE: {data.hex()}", file=sys.stderr)
                return 1
            stamp = struct.unpack("!I", data[12:16])[0] - NTP_EPOCH_OFFSET
            print(f"heartbeat response seq={seq} recovery_time_stamp={stamp}")
            return 0
    print(f"no answer from {host}:{port}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
