"""Endpoints in the configuration: ``host:port``, ``[v6]:port``, a bare address (the default
port), or for ``pfcp.associate_to`` a DNS name."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

PFCP_PORT = 8805


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A UDP/TCP endpoint: an IP literal (no brackets) and a port; for ``pfcp.associate_to``
    the host may also be a DNS name, resolved when pfcpd runs."""

    host: str
    port: int

    @property
    def family(self) -> int:
        return ipaddress.ip_address(self.host).version

    @property
    def is_name(self) -> bool:
        return is_dns_name(self.host)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def is_dns_name(host: str) -> bool:
    """True for a DNS name, False for an IPv4/IPv6 literal."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def is_fqdn(text: str) -> bool:
    """A syntactically valid DNS name (letters, digits, hyphens; labels of 1-63)."""
    labels = text.rstrip(".").split(".")
    return 0 < len(text) <= 253 and all(
        0 < len(label) <= 63
        and label.replace("-", "").isalnum()
        and label.isascii()
        and not label.startswith("-")
        and not label.endswith("-")
        for label in labels
    )


def parse_endpoint(
    text: str, default_port: int | None = PFCP_PORT, allow_name: bool = False
) -> Endpoint:
    """``host:port``, ``[v6]:port``, or a bare address when ``default_port`` is set; with
    ``allow_name`` the host may be a DNS name (``smf.example.net:8805``)."""
    text = text.strip()
    host, port_text = text, None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"{text!r}: missing ']'")
        host, rest = text[1:close], text[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r}: expected ':port' after ']'")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    try:
        host = ipaddress.ip_address(host).compressed
    except ValueError:
        if not allow_name:
            raise ValueError(f"{text!r}: {host!r} is not an IPv4 or IPv6 address") from None
        if text.startswith("[") or not is_fqdn(host) or host.replace(".", "").isdigit():
            raise ValueError(
                f"{text!r}: {host!r} is neither an IPv4/IPv6 address nor a DNS name"
            ) from None
        host = host.rstrip(".").lower()
    if port_text is None:
        if default_port is None:
            raise ValueError(f"{text!r}: a port is required (host:port or [v6]:port)")
        port = default_port
    else:
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise ValueError(f"{text!r}: port {port_text!r} is not a number in 0-65535")
        port = int(port_text)
    return Endpoint(host, port)
