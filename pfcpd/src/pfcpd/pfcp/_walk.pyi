"""Types of the C extension ``_walk`` (``_walk.c``): the codec's IE walk."""

from collections.abc import Callable, Container, Iterable

from .errors import CodecError
from .header import Header
from .ie import IE
from .messages import IgnoredIE, Message

def walk(
    data: bytes, start: int, end: int, msg_type: int, ignored: list[IgnoredIE]
) -> list[IE]: ...
def decode_ies(
    data: bytes, start: int, end: int, ignored: list[IgnoredIE] | None = None
) -> list[IE]: ...
def cache_bytes() -> int: ...
def cache_entries() -> list[tuple[bytes, IE]]: ...  # (the live entries: read-only, for tests)
def cache_clear() -> None: ...
def cache_hash_bits(bits: int) -> None: ...
def setup(
    decoders: dict[int, Callable[[bytes], IE]],
    known: Iterable[int],
    cacheable: Iterable[int],
    groups: dict[int, frozenset[int]],
    allowed_children: dict[int, frozenset[int]],
    messages: dict[int, frozenset[int]],
    allowed_ies: dict[int, frozenset[int]],
    cache_max_bytes: int,
    grouped: type,
    raw: type,
    vendor: type,
    short_errors: tuple[type[BaseException], ...],
    value_errors: tuple[type[BaseException], ...],
    codec_error: type[CodecError],
    error: Callable[[int, int, int, Exception | None, bool], CodecError],
    in_group: Callable[[CodecError, int], None],
    ignore: Callable[
        [list[IgnoredIE], tuple[int, ...], int, bytes, Exception | None, list[IE]], None
    ],
) -> None: ...
def setup_shortcuts(classes: dict[int, tuple[type, tuple[str, ...]]]) -> list[int]: ...
def encode_ies(ies: list[IE]) -> bytes: ...
def setup_encoder(
    grouped: type,
    vendor: type,
    encoded: dict[int, tuple[IE, bytes]],
    max_entries: int,
    max_value: int,
    error: Callable[[int, int, int], CodecError],
) -> None: ...
def far_shape(raw: bytes) -> bytes | None: ...
def establishment_key(ies: list[IE], leaves: Container[int]) -> tuple[object, ...] | None: ...

ielist_get: Callable[..., IE | None]  # (instance methods of IEList)
ielist_get_all: Callable[..., list[IE]]

def setup_encode_shortcuts(classes: dict[int, tuple[type, tuple[str, ...]]]) -> list[int]: ...
def setup_encoded(cls: type) -> bool: ...
def setup_messages(
    header: type,
    message: type,
    known: Iterable[int],
    header_fields: tuple[str, ...],
    message_fields: tuple[str, ...],
) -> bool: ...
def header(data: bytes, offset: int = 0) -> Header | None: ...
def message(data: bytes, header: Header) -> Message | None: ...
def encode_message(msg: Message, follow_on: bool) -> bytes | None: ...
def decode_datagram(data: bytes, header: Header | None = None) -> list[Message]: ...
def setup_datagram(general: Callable[[bytes, Header | None], list[Message]]) -> None: ...
