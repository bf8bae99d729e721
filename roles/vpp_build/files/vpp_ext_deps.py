#!/usr/bin/env python3
"""Check the download cache and wheel directory against what a VPP source tree will fetch.

Reads VPP's build/external/packages/<name>.mk for each external package (its version,
tarball name and pinned sha256) and dpdk.mk's meson pin, then looks for every tarball in the
download cache (make's DL_CACHE_DIR) and for the Python packages DPDK's meson step and
vpp_papi install with pip in the wheel directory. Prints one JSON object on stdout:

  packages  name -> {version, tarball, pinned (VPP's sha256), sha256 (what make will
            accept), present, found (its sha256)}
  versions  name -> version; dpdk_version, meson_version
  plugins   the plugin names VPP's src/plugins/*/CMakeLists.txt declare (add_vpp_plugin)
  problems  one sentence per missing or mismatching file; empty when the build can run
            offline

Run on the build host by the vpp_build role (ansible.builtin.script). Only simple make
assignments (=, :=, ::=, ?=) with $(var) / ${var} references, nested ones included, are
understood: that is all these files use for the values read here.
"""

import argparse
import hashlib
import json
import pathlib
import re
import sys

ASSIGN = re.compile(r"^([A-Za-z0-9_.-]+)\s*(\?=|::=|:=|=)\s*(.*?)\s*$")
REF = re.compile(r"\$[({]([A-Za-z0-9_.-]+)[)}]")
MESON_PIN = re.compile(r"\bmeson==([0-9][0-9.]*)")
PLUGIN = re.compile(r"\badd_vpp_plugin\s*\(\s*([A-Za-z0-9_-]+)")
# The Python packages VPP v26.06's build installs with pip: DPDK's meson venv (meson from
# source needs setuptools and wheel to build) and vpp_papi (setuptools build backend).
WHEELS = ("pyelftools", "setuptools", "wheel")


def parse_make_vars(text: str, variables: dict[str, str]) -> None:
    """Record the top-level assignments of one makefile (later ones win, ?= never overrides)."""
    depth = 0
    for raw in text.splitlines():
        if raw.startswith("\t") or raw.lstrip().startswith("#"):
            continue
        line = raw.split("#", 1)[0].rstrip()
        word = line.split(None, 1)[0] if line.strip() else ""
        if word == "define":
            depth += 1
            continue
        if word == "endef":
            depth = max(0, depth - 1)
            continue
        if depth:
            continue
        m = ASSIGN.match(line)
        if not m:
            continue
        name, op, value = m.groups()
        if op == "?=" and name in variables:
            continue
        variables[name] = expand(value, variables) if op in (":=", "::=") else value


def expand(value: str, variables: dict[str, str], depth: int = 0) -> str:
    """Expand variable references innermost first; unknown variables expand to ''."""
    if depth > 20:
        raise ValueError(f"recursive make variable in {value!r}")
    while True:
        m = REF.search(value)
        if not m:
            return value
        inner = expand(variables.get(m.group(1), ""), variables, depth + 1)
        value = value[: m.start()] + inner + value[m.end() :]


def sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def wheel_present(wheel_dir: pathlib.Path, project: str, version: str = "") -> bool:
    """A wheel or sdist of PROJECT (at VERSION when given) in WHEEL_DIR."""
    want = re.sub(r"[-_.]+", "_", project).lower()
    for f in wheel_dir.iterdir():
        m = re.match(r"^(.+?)-([0-9][^-]*?)(?:-.*\.whl|\.whl|\.tar\.gz|\.zip)$", f.name)
        if not m or re.sub(r"[-_.]+", "_", m.group(1)).lower() != want:
            continue
        if not version or m.group(2) == version:
            return True
    return False


def check(args: argparse.Namespace) -> dict:
    external = pathlib.Path(args.vpp_dir) / "build" / "external"
    cache = pathlib.Path(args.cache_dir)
    overrides = dict(o.split("=", 1) for o in args.sha256)
    problems: list[str] = []
    packages: dict[str, dict] = {}
    meson = ""
    for name in args.package:
        mk = external / "packages" / f"{name}.mk"
        if not mk.is_file():
            problems.append(f"VPP's {mk} does not exist: is {name} a VPP external package?")
            continue
        variables: dict[str, str] = {}
        text = mk.read_text()
        parse_make_vars(text, variables)
        version = expand(variables.get(f"{name}_version", ""), variables)
        tarball = expand(variables.get(f"{name}_tarball", ""), variables)
        pinned = expand(variables.get(f"{name}_tarball_sha256sum", ""), variables)
        wanted = overrides.get(name, pinned)
        info = {"version": version, "tarball": tarball, "sha256": wanted, "pinned": pinned}
        if not tarball:
            problems.append(f"{mk} names no {name}_tarball")
        else:
            path = cache / tarball
            info["present"] = path.is_file()
            if not path.is_file():
                if args.offline:
                    problems.append(f"the download cache {cache} lacks {tarball} ({name} {version})")
            else:
                found = sha256(path)
                info["found"] = found
                if found != wanted:
                    hint = (
                        f"set vpp_build_dl_sha256.{name}: {found} to accept it"
                        if name not in overrides
                        else f"vpp_build_dl_sha256.{name} says {wanted}"
                    )
                    problems.append(
                        f"{path} has sha256 {found}, VPP's build expects {wanted} ({hint})"
                    )
        packages[name] = info
        if name == "dpdk":
            pin = MESON_PIN.search(text)
            meson = pin.group(1) if pin else ""
    result = {"packages": packages, "problems": problems}
    result["versions"] = {name: info["version"] for name, info in packages.items()}
    result["dpdk_version"] = result["versions"].get("dpdk", "")
    result["meson_version"] = meson
    if args.offline:
        if not args.wheel_dir:
            problems.append("an offline build needs vpp_build_wheel_dir (pip packages for DPDK and vpp_papi)")
        else:
            wheels = pathlib.Path(args.wheel_dir)
            if not wheels.is_dir():
                problems.append(f"the wheel directory {wheels} does not exist")
            else:
                wanted_wheels = [("meson", result["meson_version"])] if result["meson_version"] else []
                wanted_wheels += [(w, "") for w in WHEELS]
                for project, version in wanted_wheels:
                    if not wheel_present(wheels, project, version):
                        spec = f"{project}=={version}" if version else project
                        problems.append(f"the wheel directory {wheels} lacks {spec}")
    if args.excluded_plugin:
        root = pathlib.Path(args.vpp_dir) / "src" / "plugins"
        declared = plugin_declarations(root)
        result["plugins"] = sorted(declared)
        unknown = [p for p in args.excluded_plugin if p not in declared]
        if unknown:
            problems.append(
                f"VPP declares no plugin named {', '.join(unknown)} (vpp_build_excluded_plugins;"
                " names as in add_vpp_plugin() under src/plugins)")
        hidden = unreachable_exclusions(root, declared, args.excluded_plugin)
        if hidden:
            problems.append(
                f"VPP never reaches {', '.join(hidden)}: excluding a plugin returns from its "
                "CMakeLists.txt (add_vpp_plugin is a macro), which skips the plugins declared "
                "after it and the directories it adds, and VPP's CMake then refuses those names "
                "as unknown; leave them out of vpp_build_excluded_plugins (they are not built)")
    return result


def plugin_declarations(root: pathlib.Path) -> dict[str, tuple[pathlib.Path, int]]:
    """Plugin name -> (its CMakeLists.txt, offset of its add_vpp_plugin) under ``root``."""
    out: dict[str, tuple[pathlib.Path, int]] = {}
    for f in sorted(root.rglob("CMakeLists.txt")):
        for m in PLUGIN.finditer(f.read_text()):
            out.setdefault(m.group(1), (f, m.start()))
    return out


def unreachable_exclusions(root: pathlib.Path, declared: dict[str, tuple[pathlib.Path, int]],
                           excluded: list[str]) -> list[str]:
    """Excluded plugins VPP's CMake never reaches because another excluded plugin's
    add_vpp_plugin returns first: declared later in the same file, or in a directory that
    file adds (add_subdirectory) after that declaration."""
    out = []
    for x in excluded:
        if x not in declared:
            continue
        fx, px = declared[x]
        for y in excluded:
            if y == x or y not in declared:
                continue
            fy, py = declared[y]
            if fx == fy and px > py:
                out.append(f"{x} (after {y} in {fy.relative_to(root)})")
                break
            if fx != fy and fy.parent in fx.parents:
                branch = fx.relative_to(fy.parent).parts[0]
                add = re.search(r"add_subdirectory\s*\(\s*" + re.escape(branch) + r"\b",
                                fy.read_text())
                if add is None or add.start() > py:
                    out.append(f"{x} (under {y}'s {fy.relative_to(root)})")
                    break
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vpp-dir", required=True, help="VPP source tree")
    p.add_argument("--cache-dir", required=True, help="download cache (DL_CACHE_DIR)")
    p.add_argument("--wheel-dir", default="", help="directory of wheels/sdists for pip")
    p.add_argument("--package", action="append", default=[], help="external package name")
    p.add_argument("--sha256", action="append", default=[], help="NAME=SHA256 accepted instead")
    p.add_argument("--offline", action="store_true", help="every file must be present")
    p.add_argument("--excluded-plugin", action="append", default=[], help="a plugin VPP must declare")
    result = check(p.parse_args())
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
