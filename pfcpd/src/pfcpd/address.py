"""The address of a PFCP peer as pfcpd handles it."""

from __future__ import annotations

Address = tuple[str, int]  # (IP address as text, IPv4-mapped IPv6 made IPv4; UDP port)
