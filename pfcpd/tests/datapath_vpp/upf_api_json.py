"""upf.api's message definitions as vppapigen generates them (JSON), for the tests to check
the vpp datapath's messages against: field names, types and enum values come from the .api
through a generator we did not write, and vpp_papi's serializer packs and unpacks them.

Where the JSON comes from, first found:
1. ``$UPF_API_JSON`` (a generated upf.api.json);
2. the one this tree's plugin build generated (``build/{core,core-release,vpp}/vpp/``, in
   the order ``vpp_launch.find_plugin`` looks for the plugin the VPP tests load): the
   tree's upf.api, not the installed plugin's, which may be older;
3. the upf-plugin .deb's ``/usr/share/vpp/api/plugins/upf.api.json``;
4. generated now from ``upf_plugin/vpp/upf.api`` (``$UPF_API`` overrides the path) with
   ``vppapigen``: the vpp-dev package's (with its .api includes in /usr/include), else the
   one in a VPP source checkout named by ``$VPP_SRC`` (a git repository: its v26.06
   ``src/tools/vppapigen`` and ``src/vnet`` .api files are read with ``git show``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
INSTALLED = Path("/usr/share/vpp/api/plugins/upf.api.json")
VPP_TAG = "v26.06"
INCLUDES = (
    "src/vnet/interface_types.api",
    "src/vnet/ip/ip_types.api",
    "src/vnet/ethernet/ethernet_types.api",
)
GENERATOR = ("vppapigen.py", "vppapigen_json.py", "vppapigen_crc.py")


class Missing(Exception):
    """What is missing to get the JSON (the skip reason)."""


def upf_api_source() -> Path:
    path = Path(os.environ.get("UPF_API", REPO / "upf_plugin" / "vpp" / "upf.api"))
    if not path.is_file():
        raise Missing(f"upf plugin's upf.api not found at {path} (set UPF_API)")
    return path


def _generate(cmd: list[str], includedir: Path, source: Path, out: Path) -> Path:
    target = out / f"{source.stem}.api.json"
    done = subprocess.run(
        [
            *cmd,
            "--includedir",
            str(includedir),
            "--input",
            str(source),
            "--outputdir",
            str(out),
            "--output",
            str(target),
            "JSON",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0 or not target.is_file():
        raise Missing(f"vppapigen failed on {source}: {done.stderr.strip()[-500:]}")
    return target


def _from_vpp_source(repo: str, source: Path, out: Path) -> Path:
    def show(path: str) -> str:
        done = subprocess.run(
            ["git", "-C", repo, "show", f"{VPP_TAG}:{path}"], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise Missing(f"VPP source {repo}: no {VPP_TAG}:{path}")
        return done.stdout

    tools = out / "vppapigen"
    tools.mkdir()
    for name in GENERATOR:
        (tools / name).write_text(show(f"src/tools/vppapigen/{name}"))
    inc = out / "include"
    for path in INCLUDES:
        dest = inc / path.removeprefix("src/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(show(path))
    try:
        import ply  # noqa: F401  (vppapigen's parser)
    except ImportError:
        raise Missing("vppapigen needs the ply package (pip install ply)") from None
    cmd = [sys.executable, str(tools / "vppapigen.py"), "--pluginpath", str(tools)]
    return _generate(cmd, inc, source, out)


def vpp_api_json(module: str, source_path: str, out: Path) -> Path:
    """The JSON of one of VPP's own .api files (``module``, e.g. ``interface``; its path in
    VPP's source, e.g. ``src/vnet/interface.api``): VPP's installed one, else generated from
    the VPP source checkout ($VPP_SRC) like upf.api's."""
    installed = Path(f"/usr/share/vpp/api/core/{module}.api.json")
    if installed.is_file():
        return installed
    vpp_src = os.environ.get("VPP_SRC", "/work/.mirror/FDio+vpp/repo")
    if not Path(vpp_src).exists():
        raise Missing(f"VPP's {module}.api.json not installed and no VPP source (set VPP_SRC)")
    done = subprocess.run(
        ["git", "-C", vpp_src, "show", f"{VPP_TAG}:{source_path}"], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise Missing(f"VPP source {vpp_src}: no {VPP_TAG}:{source_path}")
    work = out / module
    work.mkdir(parents=True)
    source = work / f"{module}.api"
    source.write_text(done.stdout)
    return _from_vpp_source(vpp_src, source, work)


def find_upf_api_json() -> Path:
    """The JSON's path (generated into a temporary directory when needed); Missing says
    why there is none."""
    env = os.environ.get("UPF_API_JSON")
    if env:
        if not Path(env).is_file():
            raise Missing(f"UPF_API_JSON={env}: no such file")
        return Path(env)
    for build in ("core", "core-release", "vpp"):
        built = REPO / "build" / build / "vpp" / "upf.api.json"
        if built.is_file():
            return built
    if INSTALLED.is_file():
        return INSTALLED
    source = upf_api_source()
    out = Path(tempfile.mkdtemp(prefix="upf-api-json-"))
    vppapigen = shutil.which("vppapigen")
    if vppapigen and Path("/usr/include/vnet/ip/ip_types.api").is_file():
        # run by this interpreter (it has ply), not by the `python3` its #! finds first in PATH
        return _generate([sys.executable, vppapigen], Path("/usr/include"), source, out)
    vpp_src = os.environ.get("VPP_SRC", "/work/.mirror/FDio+vpp/repo")
    if Path(vpp_src).exists():
        return _from_vpp_source(vpp_src, source, out)
    raise Missing(
        "vppapigen not installed (VPP's vpp-dev package) and no VPP source checkout "
        "(set VPP_SRC) to run it from: cannot generate upf.api.json"
    )


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data
