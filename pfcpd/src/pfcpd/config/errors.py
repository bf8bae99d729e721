"""Configuration errors as operators read them: one ``dotted.key: problem`` line each.

The models' own checks raise :func:`problem` (their text is the whole message); the errors
pydantic raises itself (a missing key, an unknown key, a list where a mapping belongs) are
worded here, so every line reads the same way whichever check found it.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

ERROR_TYPE = "pfcpd_config"

# What "is required" adds for the required keys that need a hint.
REQUIRED_HINTS = {
    "interfaces": " (at least interfaces.n3.address)",
    "pfcp.allowed_peers": ": a list of CIDRs, or `any`",
}


class ConfigError(Exception):
    """The configuration is invalid; ``errors`` holds one ``key: problem`` line each."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


def problem(text: str) -> PydanticCustomError:
    """The error a model's check raises: ``text`` is the problem, worded for the operator."""
    return PydanticCustomError(ERROR_TYPE, "{problem}", {"problem": text})


def type_name(value: object) -> str:
    return type(value).__name__ if value is not None else "null"


def dotted(loc: Iterable[int | str]) -> str:
    """``("pfcp", "listen", 0)`` -> ``pfcp.listen[0]``; a key that is empty, holds a control
    character or starts or ends with white space is quoted with JSON escapes (``"\\u001f"``),
    so every line names its key visibly and starts with it."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = str(part)
            if not name or not name.isprintable() or name.strip() != name:
                name = json.dumps(name)
            out += f".{name}" if out else name
    return out or "(document)"


def config_errors(exc: ValidationError, root: type[Any]) -> list[str]:
    """Every error of ``exc`` (raised validating the document as ``root``) as a line."""
    return [f"{dotted(e['loc'])}: {_wording(e, root)}" for e in exc.errors()]


def _wording(error: ErrorDetails, root: type[Any]) -> str:
    kind, value = error["type"], error["input"]
    if kind == ERROR_TYPE:
        return error["msg"]
    if kind == "missing" or kind == "missing_keyword_argument":
        return "is required" + REQUIRED_HINTS.get(dotted(error["loc"]), "")
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        return unknown_key(root, error["loc"][:-1])
    if kind in ("dataclass_type", "dataclass_args_type", "dict_type", "model_type"):
        return f"must be a mapping, got {type_name(value)}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list, got {type_name(value)}"
    if kind == "string_type":
        return f"must be a string, got {type_name(value)}"
    return f"{error['msg']}, got {value!r}"


def unknown_key(root: type[Any], section_loc: tuple[int | str, ...]) -> str:
    """The problem of an unknown key in the section at ``section_loc`` under ``root``."""
    known = _known_keys(root, section_loc)
    return f"unknown key (known: {', '.join(known)})" if known else "unknown key"


def _known_keys(root: type[Any], loc: tuple[int | str, ...]) -> list[str]:
    """The keys the mapping at ``loc`` may hold: the fields of the section found there."""
    section: Any = root
    for part in loc:
        section = _step(section, part)
    while typing.get_origin(section) is typing.Annotated:
        section = typing.get_args(section)[0]
    if not (isinstance(section, type) and dataclasses.is_dataclass(section)):
        return []
    return [f.name for f in dataclasses.fields(section)]


def _step(section: Any, part: int | str) -> Any:
    """The type found at ``part`` inside ``section`` (a field, a mapping's value, an item)."""
    while typing.get_origin(section) is typing.Annotated:
        section = typing.get_args(section)[0]
    if isinstance(section, type) and dataclasses.is_dataclass(section):
        return typing.get_type_hints(section, include_extras=True).get(str(part))
    origin = typing.get_origin(section)
    if origin is dict:
        return typing.get_args(section)[1]
    if origin is tuple:
        return typing.get_args(section)[0]
    return None


def passed_on(error: ErrorDetails, loc: tuple[int | str, ...]) -> InitErrorDetails:
    """``error`` at ``loc``, to raise again from a check that collects several."""
    if error["type"] == ERROR_TYPE:
        return {"type": problem(error["msg"]), "loc": loc, "input": error["input"]}
    out: InitErrorDetails = {"type": error["type"], "loc": loc, "input": error["input"]}
    if "ctx" in error:
        out["ctx"] = error["ctx"]
    return out


def raise_collected(line_errors: list[InitErrorDetails]) -> None:
    """Raise the errors a check collected (it goes on after the first), if any."""
    if line_errors:
        raise ValidationError.from_exception_data("pfcpd configuration", line_errors)
