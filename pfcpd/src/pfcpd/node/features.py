"""The UP Function Features pfcpd advertises (TS 29.244 clause 8.2.25).

Advertise exactly what is implemented: a feature joins this set in the same change that
implements it, and ``tests/node/test_features.py`` pins the set. The node itself implements
no optional feature; the session engine adds its own through ``SessionHandler.up_features``.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..pfcp.ies_flags import UPFunctionFeatures

NODE_UP_FEATURES: frozenset[str] = frozenset()


def up_function_features_ie(features: Iterable[str]) -> UPFunctionFeatures | None:
    """The IE for ``features``, or None when there is none to advertise (the IE is
    conditional: present only when the UP function supports at least one feature)."""
    names = sorted(set(features))
    if not names:
        return None
    return UPFunctionFeatures.of(*names)
