"""pfcpd's compiled parts; everything else about the package is in pyproject.toml.

- ``pfcpd.pfcp._walk``: the PFCP codec's IE walk (src/pfcpd/pfcp/_walk.c, see codec.py).
- ``pfcpd.session._deflate``: the deflate encoder of a session's rules
  (src/pfcpd/session/_deflate.c, see session/packing.py).
- ``pfcpd.session._record``: the binary journal record of a session of the usual shape
  (src/pfcpd/session/_record.c, see session/record.py and Session.record).
- ``pfcpd.daemon._udp``: PFCP datagrams read (recvmmsg) and sent (sendmmsg) in batches
  (src/pfcpd/daemon/_udp.c, see daemon/pfcp_socket.py).
- ``pfcpd/datapath/local/libupfcore.so``: the C rule engine of the ``local`` datapath, built from
  every ``*.c`` of upf_plugin/core (loaded with ctypes, see datapath/local/corelib.py), so an
  installed pfcpd carries its datapath and nobody points ``UPF_CORE_LIB`` at a build.

The core's sources are found in ``upf_core/`` beside this file (an sdist, or a copy made by
the installer), else in ``../upf_plugin/core`` (the repository). An sdist copies them into
``upf_core/``, so a wheel built from it needs nothing outside. Building needs a C compiler
and the Python headers (Debian: gcc, python3-dev).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
CORE_CANDIDATES = (HERE / "upf_core", HERE.parent / "upf_plugin" / "core")
CORE_LIB = "libupfcore.so"
CORE_LIB_PACKAGE_DIR = ("pfcpd", "datapath", "local")


def core_dir() -> Path:
    for candidate in CORE_CANDIDATES:
        if any(candidate.glob("*.c")):
            return candidate
    raise SystemExit(
        "pfcpd: the C core's sources are in neither "
        + " nor ".join(str(c) for c in CORE_CANDIDATES)
        + " (build pfcpd from the repository, or from an sdist)"
    )


class BuildExt(build_ext):
    """build_ext plus libupfcore.so: a plain shared library (no Python module), linked from
    every C file of the core, its API symbols exported and everything else hidden (as the
    CMake build does)."""

    def run(self) -> None:
        super().run()
        self.build_core_lib()

    def core_lib_path(self) -> Path:
        base = Path(self.get_finalized_command("build_py").get_package_dir("pfcpd")).parent
        root = base if self.inplace else Path(self.build_lib)
        return root.joinpath(*CORE_LIB_PACKAGE_DIR, CORE_LIB)

    def build_core_lib(self) -> None:
        src = core_dir()
        sources = sorted(str(p) for p in src.glob("*.c"))
        out = self.core_lib_path()
        out.parent.mkdir(parents=True, exist_ok=True)
        objects = self.compiler.compile(
            sources,
            output_dir=str(Path(self.build_temp) / "upfcore"),
            include_dirs=[str(src)],
            extra_postargs=[
                "-std=gnu11",
                "-O2",
                "-fPIC",
                "-fvisibility=hidden",
                "-Wall",
                "-Wextra",
            ],
        )
        self.compiler.link_shared_object(objects, out.name, output_dir=str(out.parent))

    def get_outputs(self) -> list[str]:
        return [*super().get_outputs(), str(self.core_lib_path())]

    def get_output_mapping(self) -> dict[str, str]:
        """{build_lib file: in-place file} for in-place (editable) builds, as setuptools does."""
        mapping: dict[str, str] = dict(super().get_output_mapping())
        if self.inplace:
            built = Path(self.build_lib).joinpath(*CORE_LIB_PACKAGE_DIR, CORE_LIB)
            mapping[str(built)] = str(self.core_lib_path())
        return mapping


class Sdist(sdist):
    """The sdist carries the core's sources in ``upf_core/``."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        src = core_dir()
        dest = Path(base_dir) / "upf_core"
        dest.mkdir(exist_ok=True)
        for path in sorted(src.glob("*.[ch]")):
            shutil.copy2(path, dest / path.name)


setup(
    ext_modules=[
        Extension(
            "pfcpd.pfcp._walk",
            sources=["src/pfcpd/pfcp/_walk.c"],
            extra_compile_args=["-Wall", "-Wextra"],
        ),
        Extension(
            "pfcpd.session._deflate",
            sources=["src/pfcpd/session/_deflate.c"],
            extra_compile_args=["-Wall", "-Wextra"],
        ),
        Extension(
            "pfcpd.session._record",
            sources=["src/pfcpd/session/_record.c"],
            extra_compile_args=["-Wall", "-Wextra"],
        ),
        Extension(
            "pfcpd.daemon._udp",
            sources=["src/pfcpd/daemon/_udp.c"],
            extra_compile_args=["-Wall", "-Wextra"],
        ),
    ],
    cmdclass={"build_ext": BuildExt, "sdist": Sdist},
)
