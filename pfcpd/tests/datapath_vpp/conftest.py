from __future__ import annotations

from typing import Any

import pytest
from upf_api_json import Missing, find_upf_api_json, load


@pytest.fixture(scope="session")
def upf_api() -> dict[str, Any]:
    """upf.api as vppapigen's JSON (skips, naming what is missing, when it cannot be had)."""
    try:
        return load(find_upf_api_json())
    except Missing as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def papi_messages(upf_api: dict[str, Any]) -> dict[str, Any]:
    """vpp_papi's serializers (VPPMessage) of upf.api's messages."""
    import json

    from vpp_papi.vpp_papi_async import VPPApiJSONFiles

    messages, _ = VPPApiJSONFiles.process_json_str(json.dumps(upf_api))
    return messages
