"""Plant a bug in an IE decoder, to show that the robustness tests' checks can fail."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pfcpd.pfcp import codec


class PlantedBug(Exception):
    """Stands for any programming error in a decoder (TypeError, AttributeError, ...)."""


def plant_bug(monkeypatch: pytest.MonkeyPatch, ie_type: int, value: bytes) -> None:
    """Make the decoder of ``ie_type`` raise PlantedBug on the value octets ``value`` (other
    values decode as before). The decode cache is emptied; callers empty it again (with
    ``codec.reload_tables()``) once the patch is undone."""
    original: Callable[[bytes], object] = codec.DECODERS[ie_type]

    def buggy(data: bytes) -> object:
        if data == value:
            raise PlantedBug("planted")
        return original(data)

    monkeypatch.setitem(codec.DECODERS, ie_type, buggy)
    codec.reload_tables()
