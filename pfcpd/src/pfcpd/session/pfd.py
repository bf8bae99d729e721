"""PFDs per Application ID (PFD Management, TS 29.244 5.11 and 7.4.3).

A PFD Management Request carries, per Application ID, the complete set of its PFDs: they
replace what was known for it; an Application ID with no PFD Context removes its PFDs, and
a request with no Application ID's PFDs removes those of every application.
An application whose PFDs were removed stays known, with none: a PDR naming it detects no
traffic until PFDs are provisioned again (`compile._sdf_filters`); an Application ID never
provisioned is not known (a PDR naming it is refused, 81).
Only flow-description PFDs (FD, and the additional flow descriptions AFD) can be matched
without packet inspection beyond the 5-tuple; a request with URL or domain name PFDs is
refused as a whole (cause 76, Offending IE PFD Contents).
"""

from __future__ import annotations

import json

from ..pfcp import Cause, Grouped, IEType, Message
from ..pfcp.ies_text import ApplicationID
from ..pfcp.ies_traffic import PFDContents
from .errors import RuleError
from .flow_description import filters_or_refusal

T = IEType


def _afd(raw: bytes) -> list[str]:
    """Additional Flow Descriptions: two-octet length-prefixed entries."""
    out, off = [], 0
    while off + 2 <= len(raw):
        n = int.from_bytes(raw[off : off + 2], "big")
        out.append(raw[off + 2 : off + 2 + n].decode("utf-8", "surrogateescape"))
        off += 2 + n
    return out


class PfdStore:
    def __init__(self) -> None:
        self.apps: dict[str, tuple[str, ...]] = {}

    def flows(self, application_id: str) -> tuple[str, ...] | None:
        """The flow descriptions of the application's PFDs: none (empty) when they were
        removed; None when it was never provisioned."""
        return self.apps.get(application_id)

    def known(self, apps: frozenset[str]) -> frozenset[str]:
        """Keep ``apps`` known (with no PFDs when they have none): a restored session names
        them, so they were provisioned, whether or not the journal's PFD record names them
        (a record that does not: the session is restored, its PDRs naming them detecting
        no traffic). Returns the applications this made known, for `forget`."""
        added = frozenset(app for app in apps if app not in self.apps)
        for app in added:
            self.apps[app] = ()
        return added

    def forget(self, apps: frozenset[str]) -> None:
        """Undo `known` for ``apps`` (a session record that then failed to restore names
        them: nothing restored shows they were provisioned)."""
        for app in apps:
            if self.apps.get(app) == ():
                del self.apps[app]

    def parse(self, request: Message) -> dict[str, tuple[str, ...]]:
        """The Application IDs a request names and their new flow descriptions (empty:
        removed); a request naming none removes the PFDs of every application known (TS
        29.244 Table 7.4.3.1-1: without Application ID's PFDs, the UP function deletes all
        the PFDs it received). Raises RuleError when it carries what this UP function
        cannot match."""
        groups = request.get_all(T.APPLICATION_IDS_PFDS)
        if not groups:
            return {app: () for app in self.apps}
        out: dict[str, tuple[str, ...]] = {}
        for group in groups:
            assert isinstance(group, Grouped)
            app = group.get(T.APPLICATION_ID)
            assert isinstance(app, ApplicationID)
            flows: list[str] = []
            for ctx in group.get_all(T.PFD_CONTEXT):
                assert isinstance(ctx, Grouped)
                for contents in ctx.get_all(T.PFD_CONTENTS):
                    assert isinstance(contents, PFDContents)
                    if any(
                        v is not None
                        for v in (contents.url, contents.dn, contents.cp, contents.dnp)
                    ) or any(v is not None for v in (contents.aurl, contents.adnp)):
                        raise RuleError(
                            Cause.SERVICE_NOT_SUPPORTED,
                            f"application {app.text!r}: only flow description PFDs are"
                            " supported (no URL, domain name or custom PFDs)",
                            offending_ie=T.PFD_CONTENTS,
                        )
                    texts = []
                    if contents.fd is not None:
                        texts.append(contents.fd.decode("utf-8", "surrogateescape"))
                    if contents.afd is not None:
                        texts.extend(_afd(contents.afd))
                    for text in texts:
                        filters_or_refusal(text, f"application {app.text!r}", T.PFD_CONTENTS)
                    flows.extend(texts)
            out[app.text] = tuple(flows)
        return out

    def apply(self, changes: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...] | None]:
        """Apply ``changes``; returns what was there before (to undo). Removing the PFDs of
        a known application keeps it known with none; of one never provisioned, changes
        nothing."""
        apps = self.apps
        before = {app: apps.get(app) for app in changes}
        for app, flows in changes.items():
            if flows or app in apps:
                apps[app] = flows
        return before

    def undo(self, before: dict[str, tuple[str, ...] | None]) -> None:
        for app, flows in before.items():
            if flows is None:
                self.apps.pop(app, None)
            else:
                self.apps[app] = flows

    def record(self) -> bytes:
        return json.dumps({k: list(v) for k, v in self.apps.items()}).encode()

    def restore(self, value: bytes) -> None:
        self.apps = {str(k): tuple(str(x) for x in v) for k, v in json.loads(value).items()}
