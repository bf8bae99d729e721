"""Plain JSON-able views of messages and IEs, for ``pfcpd decode``, logs and the admin API."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from .ie import IE, Grouped, RawIE, VendorIE
from .ie_types import ie_type_name
from .ies_flags import FlagsIE
from .messages import Message


def ie_value(ie: IE) -> Any:
    """The value of one IE: a dict of fields, a list of flag names, a number or text."""
    if isinstance(ie, Grouped):
        return [ie_to_json(child) for child in ie.ies]
    if isinstance(ie, RawIE):
        return {"hex": ie.data.hex()}
    if isinstance(ie, VendorIE):
        return {"enterprise_id": ie.enterprise_id, "hex": ie.data.hex()}
    if isinstance(ie, FlagsIE):
        return ie.names()
    if is_dataclass(ie):
        values = {}
        for f in fields(ie):
            v = getattr(ie, f.name)
            if v is None:
                continue
            values[f.name] = v.hex() if isinstance(v, bytes) else v
        if len(values) == 1 and "value" in values:
            return values["value"]
        return values
    return repr(ie)


def ie_to_json(ie: IE) -> dict[str, Any]:
    return {"ie": ie_type_name(ie.type), "type": ie.type, "value": ie_value(ie)}


def message_to_json(msg: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"message": msg.name, "type": msg.msg_type, "seq": msg.seq}
    if msg.seid is not None:
        out["seid"] = msg.seid
    if msg.priority is not None:
        out["priority"] = msg.priority
    out["ies"] = [ie_to_json(ie) for ie in msg.ies]
    if msg.ignored:
        out["ignored"] = [
            {"path": "/".join(i.path), **ie_to_json(i.ie), "reason": i.reason} for i in msg.ignored
        ]
    return out
