"""Types of the C extension ``_udp`` (``_udp.c``): PFCP datagrams read (recvmmsg) and sent
(sendmmsg) in batches."""

from ..address import Address

def receive(fd: int, count: int, /) -> list[tuple[bytes, Address]]: ...
def send(
    fd: int, datagrams: list[tuple[bytes, Address]], ipv6: bool, /
) -> list[tuple[int, int]]: ...
def source(packed: bytes, port: int, /) -> Address: ...
