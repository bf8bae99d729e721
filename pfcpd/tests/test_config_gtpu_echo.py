"""pfcp.gtpu_echo: GTP-U path management's keys, checked by check-config."""

from __future__ import annotations

from typing import Any

import pytest

from pfcpd.config import ConfigError, parse_config
from pfcpd.session import EngineSettings
from pfcpd.session.gtpu_path import PathSettings


def doc(kind: str = "local", **echo: Any) -> dict[str, Any]:
    return {
        "node_id": "127.0.0.1",
        "pfcp": {"listen": ["127.0.0.1:8805"], "allowed_peers": "any", "gtpu_echo": echo},
        "datapath": {"kind": kind},
        "interfaces": {"n3": {"address": "127.0.0.1"}},
        "state_dir": "/var/lib/pfcpd",
    }


def test_off_by_default_and_engine_settings_follow() -> None:
    cfg = parse_config(doc())
    assert cfg.pfcp.gtpu_echo.interval == 0
    assert EngineSettings.from_config(cfg).gtpu_path is None
    cfg = parse_config(doc(interval=60, t3_response=2, n3_requests=5, report_recovery=False))
    settings = EngineSettings.from_config(cfg)
    assert settings.gtpu_path == PathSettings(60.0, 2.0, 5, False)
    assert settings.node_id == "127.0.0.1"


@pytest.mark.parametrize(
    ("echo", "where"),
    [
        ({"interval": -1}, "pfcp.gtpu_echo.interval"),
        ({"t3_response": 0}, "pfcp.gtpu_echo.t3_response"),
        ({"n3_requests": 0}, "pfcp.gtpu_echo.n3_requests"),
        ({"retries": 3}, "pfcp.gtpu_echo.retries"),
    ],
)
def test_bad_values_named(echo: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(doc(**echo))
    assert where in str(err.value)


def test_vpp_datapath_takes_path_management() -> None:
    assert parse_config(doc("vpp", interval=60)).pfcp.gtpu_echo.interval == 60
