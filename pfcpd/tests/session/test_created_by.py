"""`RuleSet.created_by` (an establishment's rules in one pass over the request) makes what
`RuleSet.create` makes on an empty set, and refuses what it refuses, with the same error."""

from __future__ import annotations

import pytest

from pfcpd.pfcp import IE, IEType, Message, decode, encode
from pfcpd.pfcp import ies_scalar as S
from pfcpd.session.errors import RuleError
from pfcpd.session.rules import KINDS, RuleSet
from pfcpd.smfsim import rules as R

T = IEType


def _request(ies: list[IE]) -> Message:
    return decode(encode(R.establishment_request("smf", "127.0.0.1", 1, ies, seq=1)))


def _bar() -> IE:
    return R.group(T.CREATE_BAR, S.BARID(1), S.SuggestedBufferingPacketsCount(10))


def _outcome(make: object) -> object:
    try:
        rules = make()  # type: ignore[operator]
    except RuleError as err:
        return ("refused", err.cause, err.detail, err.failed_rule, err.offending_ie)
    return [[(rid, id(g)) for rid, g in rules.of(kind).items()] for kind in KINDS]


def _created(req: Message) -> RuleSet:
    rules = RuleSet()
    rules.create(req)
    return rules


REQUESTS = {
    "usual": R.session_rules(),
    "dual stack, BAR, second URR": [*R.session_rules(dual_stack=True), _bar(), R.urr(2)],
    "kinds interleaved": [
        R.urr(1),
        R.ul_far(),
        R.ul_pdr(),
        _bar(),
        R.dl_far(),
        R.qer(),
        R.dl_pdr(),
    ],
    # A FAR ID repeated before a PDR ID is: the PDR's is the refusal (kinds in KINDS order).
    "repeated FAR then PDR": [*R.session_rules(), R.ul_far(), R.ul_pdr()],
    "repeated URR": [*R.session_rules(), R.urr(1, period=5)],
}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_created_by_is_create_on_an_empty_set(name: str) -> None:
    req = _request(REQUESTS[name])
    assert _outcome(lambda: RuleSet.created_by(req)) == _outcome(lambda: _created(req))
    if name.startswith("repeated"):
        assert _outcome(lambda: RuleSet.created_by(req))[0] == "refused"  # type: ignore[index]
