"""pfcpd's C extension: the PFCP codec's IE walk (pfcpd/pfcp/_walk.c, see codec.py).
Everything else about the package is in pyproject.toml. Building needs a C compiler and the
Python headers (Debian: gcc, python3-dev)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pfcpd.pfcp._walk",
            sources=["src/pfcpd/pfcp/_walk.c"],
            extra_compile_args=["-Wall", "-Wextra"],
        )
    ]
)
