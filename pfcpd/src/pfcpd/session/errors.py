"""The error a session request fails with: the PFCP cause and what the response names."""

from __future__ import annotations

from ..pfcp import Cause


class RuleError(Exception):
    """A request the engine refuses. ``cause`` goes in the response with, where set, the
    Offending IE (``offending_ie``, an IE type) or the Failed Rule ID (``failed_rule``, the
    rule type of TS 29.244 8.2.80 and the rule's ID)."""

    def __init__(
        self,
        cause: Cause,
        detail: str,
        *,
        offending_ie: int | None = None,
        failed_rule: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(detail)
        self.cause = cause
        self.detail = detail
        self.offending_ie = offending_ie
        self.failed_rule = failed_rule
