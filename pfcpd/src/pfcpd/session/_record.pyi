"""Types of the C extension ``_record`` (``_record.c``): the binary records of usual
sessions, and copies of objects of slots."""

from typing import Any, TypeVar

_T = TypeVar("_T")

class RecordWriter:
    def __init__(
        self,
        session_type: type,
        one_book_type: type,
        book_type: type,
        fixed: dict[Any, bytes],
        zero: object,
        no_time: float,
        no_drops: tuple[int, int],
    ) -> None: ...
    def write(self, session: object, /) -> bytes | None: ...

def copy_slots(obj: _T, /) -> _T: ...
def copy_untracked(obj: _T, /) -> _T: ...
