"""Fixtures of the vpp datapath's tests: upf.api's JSON, vpp_papi's serializers of it, a
private VPP with the upf plugin; and (for the PFCP tests) the daemon tests' real pfcpd and
SMF simulator fixtures, re-exported from tests/daemon_sessions/conftest.py."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_api_server import FakeApiServer, serve_plugin
from fake_plugin import FakeVpp
from upf_api_json import Missing, find_upf_api_json, load
from vpp_cpus import NoCpuView
from vpp_instance import Missing as VppMissing
from vpp_instance import VppInstance
from vpp_pfcpd import PfcpdOnVpp

DAEMON_TESTS = Path(__file__).resolve().parents[1] / "daemon_sessions"


def _daemon_conftest() -> Any:
    if str(DAEMON_TESTS) not in sys.path:
        sys.path.insert(0, str(DAEMON_TESTS))
    spec = importlib.util.spec_from_file_location(
        "daemon_sessions_conftest", DAEMON_TESTS / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_daemon = _daemon_conftest()
start_pfcpd = _daemon.start_pfcpd
smf = _daemon.smf


def _vpp(workers: int = 0, setup: str = "") -> Iterator[VppInstance]:
    if os.geteuid() != 0:
        pytest.skip("VPP needs root")
    # A new directory each time, removed after (a short path: the API socket's name must fit
    # sun_path). One named by id(tmp_path) was used again by a later test (an object's id is
    # its address, reused once it is freed): VPP refused to start a capture whose file an
    # earlier test left there, and the test read that test's packets.
    where = Path(tempfile.mkdtemp(prefix=f"pfcpd-vpp-{os.getpid()}-", dir="/tmp"))
    try:
        try:
            instance = VppInstance(where, workers=workers, setup=setup)
            instance.start()
        except (VppMissing, NoCpuView) as exc:
            pytest.skip(str(exc))
        try:
            yield instance
        finally:
            instance.stop()
            print(instance.tail())
    finally:
        shutil.rmtree(where, ignore_errors=True)


@pytest.fixture
def vpp() -> Iterator[VppInstance]:
    """A private VPP with the upf plugin (skips naming what is missing)."""
    yield from _vpp()


@pytest.fixture
def vpp2w() -> Iterator[VppInstance]:
    """The same VPP with 2 worker threads and a second pg interface, pg1 (N3 on pg1 at
    10.0.3.1/24 towards a gNB 10.0.3.2; pg0 is N6)."""
    yield from _vpp(
        workers=2,
        setup="create packet-generator interface pg1\n"
        "set interface state pg1 up\n"
        "set interface ip address pg1 10.0.3.1/24\n",
    )


@pytest.fixture
def pfcpd_vpp2w(
    vpp2w: VppInstance, start_pfcpd: Callable[..., Any], smf: Callable[..., Any]
) -> PfcpdOnVpp:
    """pfcpd (datapath vpp) on `vpp2w`, the gNB's and the DN's neighbours static, the SMF
    simulator associated (`vpp_pfcpd.PfcpdOnVpp`)."""
    from test_vpp_churn import DN, DN_MAC, GNB, GNB_MAC, overrides

    vpp2w.cli(f"set ip neighbor pg1 {GNB} {GNB_MAC} static")
    vpp2w.cli(f"set ip neighbor pg0 {DN} {DN_MAC} static")
    daemon = start_pfcpd(overrides(vpp2w))
    cp = smf(daemon)
    cp.associate()
    return PfcpdOnVpp(vpp2w, daemon, cp)


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


@pytest.fixture(scope="session")
def interface_api(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """VPP's interface.api as JSON (skips naming what is missing)."""
    from upf_api_json import vpp_api_json

    try:
        return load(
            vpp_api_json("interface", "src/vnet/interface.api", tmp_path_factory.mktemp("api"))
        )
    except Missing as exc:
        pytest.skip(str(exc))


@pytest.fixture
def stack(
    tmp_path: Path, upf_api: dict[str, Any], interface_api: dict[str, Any]
) -> Iterator[tuple[FakeApiServer, FakeVpp]]:
    server = FakeApiServer(tmp_path / "api.sock", [interface_api, upf_api])
    vpp = FakeVpp()
    serve_plugin(server, vpp)
    yield server, vpp
    server.close()
    assert not server.errors, server.errors
