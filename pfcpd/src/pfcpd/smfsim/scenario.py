"""``pfcpd smfsim run SCENARIO.yaml``: an SMF scripted in YAML (docs/smfsim.md).

A scenario is a list of steps run in order on one `SmfClient`; the first step that fails
stops the run (exit status 1, the step named). Steps:

    associate                         Association Setup
    establish: {session: NAME, gnb: ADDR, gnb_teid: N, mbr_kbps: [UL, DL],
                volume_threshold: OCTETS, gate_open: true, v6: false,
                dual_stack: false, qfi: 9}
                                      the usual PDU session of `rules.session_rules`:
                                      CHV4, CHV6 with v6, both with dual_stack
    modify:    {session: NAME, gnb: ADDR, gnb_teid: N, end_marker: false}   new gNB tunnel
    modify:    {session: NAME, gates: open|closed}                          Update QER
    query:     {session: NAME}        Query URR 1: the usage in the response
    wait_reports: {count: N, timeout: SECONDS}   N more Session Report Requests
    sleep: SECONDS                    keep answering the UPF (heartbeats, reports)
    delete:    {session: NAME}        the final usage report
    release                           Association Release

Every step prints one line (or a JSON object with ``--json``); ``--sessions-out FILE``
holds the established sessions as JSON for ``pfcpd gnbsim run --sessions FILE``, rewritten
after each establish and modify step (so a gNB simulator can start while a `sleep` runs).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from ..config import parse_endpoint
from ..pfcp import Cause, Grouped, IEType, Message
from ..pfcp import ies_flags as F
from ..pfcp import ies_scalar as S
from . import rules
from .client import Established, SmfClient, SmfError, cause_of

T = IEType
STEP_KEYS: dict[str, frozenset[str]] = {
    "associate": frozenset(),
    "release": frozenset(),
    "establish": frozenset(
        {
            "session",
            "gnb",
            "gnb_teid",
            "mbr_kbps",
            "volume_threshold",
            "gate_open",
            "v6",
            "dual_stack",
            "qfi",
        }
    ),
    "modify": frozenset({"session", "gnb", "gnb_teid", "end_marker", "gates"}),
    "query": frozenset({"session"}),
    "wait_reports": frozenset({"count", "timeout"}),
    "sleep": frozenset(),
    "delete": frozenset({"session"}),
}
TOP_KEYS = frozenset({"upf", "local", "node_id", "t1", "n1", "steps"})


class ScenarioError(Exception):
    """A scenario that cannot run as written, or a step whose answer was not accepted."""


@dataclass(frozen=True)
class Step:
    number: int
    kind: str
    args: Mapping[str, Any]

    def name(self) -> str:
        session = self.args.get("session")
        return f"step {self.number} ({self.kind}{' ' + session if session else ''})"


@dataclass
class Scenario:
    steps: list[Step]
    upf: str | None = None
    local: str | None = None
    node_id: str = "smf.sim"
    t1: float = 1.0
    n1: int = 3

    @classmethod
    def load(cls, text: str) -> Scenario:
        """Parse and check a scenario (every problem with its step number at once)."""
        data = yaml.safe_load(text)
        if isinstance(data, list):
            data = {"steps": data}
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise ScenarioError("a scenario is a mapping with a `steps` list (or a list)")
        problems = [f"unknown key {key!r}" for key in data if key not in TOP_KEYS]
        steps: list[Step] = []
        for number, raw in enumerate(data["steps"], 1):
            kind, args = (raw, {}) if isinstance(raw, str) else _one_entry(raw)
            if kind not in STEP_KEYS:
                problems.append(f"step {number}: unknown step {kind!r} ({', '.join(STEP_KEYS)})")
                continue
            if kind == "sleep":
                args = {"seconds": args}
                if isinstance(args["seconds"], bool) or not isinstance(
                    args["seconds"], int | float
                ):
                    problems.append(f"step {number}: sleep takes a number of seconds")
                    continue
            elif not isinstance(args, dict):
                problems.append(f"step {number}: {kind} takes a mapping, got {args!r}")
                continue
            else:
                unknown = sorted(set(args) - STEP_KEYS[kind])
                if unknown:
                    problems.append(f"step {number}: {kind}: unknown keys {unknown}")
                if "session" in STEP_KEYS[kind] and not isinstance(args.get("session"), str):
                    problems.append(f"step {number}: {kind} needs `session: NAME`")
            steps.append(Step(number, kind, args))
        if problems:
            raise ScenarioError("; ".join(problems))
        return cls(
            steps,
            data.get("upf"),
            data.get("local"),
            str(data.get("node_id", "smf.sim")),
            float(data.get("t1", 1.0)),
            int(data.get("n1", 3)),
        )


def _one_entry(raw: object) -> tuple[str, Any]:
    if isinstance(raw, dict) and len(raw) == 1:
        ((kind, args),) = raw.items()
        return str(kind), ({} if args is None else args)
    return repr(raw), {}


@dataclass
class Runner:
    """Runs a scenario's steps on ``client``; results go to ``emit`` one mapping a step."""

    client: SmfClient
    emit: Callable[[dict[str, Any]], None]
    sessions_out: Path | None = None  # rewritten after each establish and modify
    sessions: dict[str, Established] = field(default_factory=dict)
    info: dict[str, dict[str, Any]] = field(default_factory=dict)  # for sessions_out

    def run(self, scenario: Scenario) -> None:
        for step in scenario.steps:
            start = time.monotonic()
            try:
                result = getattr(self, f"_{step.kind}")(step.args)
            except (SmfError, ScenarioError, OSError) as exc:
                raise ScenarioError(f"{step.name()}: {exc}") from None
            if self.sessions_out and step.kind in ("establish", "modify"):
                self.sessions_out.write_text(json.dumps(list(self.info.values()), indent=1))
            result = {"step": step.number, "kind": step.kind, **result}
            result["ms"] = round((time.monotonic() - start) * 1000, 2)
            self.emit(result)

    def _session(self, args: Mapping[str, Any]) -> Established:
        name = args["session"]
        if name not in self.sessions:
            raise ScenarioError(f"no session {name!r} was established")
        return self.sessions[name]

    @staticmethod
    def _accepted(answer: Message, what: str) -> None:
        if cause_of(answer) != Cause.REQUEST_ACCEPTED:
            raise ScenarioError(f"{what} refused: cause {cause_of(answer)}")

    def _associate(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        answer = self.client.associate()
        features = answer.get(T.UP_FUNCTION_FEATURES)
        names = ",".join(features.names()) if isinstance(features, F.UPFunctionFeatures) else ""
        return {"cause": cause_of(answer), "up_features": names}

    def _release(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        answer = self.client.release()
        self._accepted(answer, "association release")
        return {"cause": cause_of(answer)}

    def _establish(self, args: Mapping[str, Any]) -> dict[str, Any]:
        mbr = args.get("mbr_kbps")
        gnb, gnb_teid = args.get("gnb", "192.0.2.9"), int(args.get("gnb_teid", 0x100))
        est = self.client.establish(
            rules.session_rules(
                v6=bool(args.get("v6", False)),
                gnb=gnb,
                gnb_teid=gnb_teid,
                mbr_kbps=(int(mbr[0]), int(mbr[1])) if mbr else None,
                gate_open=bool(args.get("gate_open", True)),
                volume_threshold=args.get("volume_threshold"),
                dual_stack=bool(args.get("dual_stack", False)),
            )
        )
        self.sessions[args["session"]] = est
        addr, teid = est.teids.get(1, ("", 0))
        # The UE's own addresses (in an IPv6 prefix: interface identifier 1); a dual-stack
        # session's IPv6 address is `ue6` beside the IPv4 `ue`.
        ue4, ue6 = est.ue_address(4), est.ue_address(6)
        ues = {"ue": ue4 or ue6, **({"ue6": ue6} if ue4 and ue6 else {})}
        self.info[args["session"]] = {
            "name": args["session"],
            **ues,
            "upf": addr,
            "upf_teid": teid,
            "gnb_teid": gnb_teid,
            "qfi": int(args.get("qfi", 9)),
        }
        prefixes = [str(net) for net in est.ue_networks if net.version == 6]
        return {
            "session": args["session"],
            "up_seid": est.up_seid,
            **ues,
            **({"ue6_prefix": prefixes[0]} if prefixes else {}),
            "f_teid": f"{addr}/{teid:#x}",
        }

    def _modify(self, args: Mapping[str, Any]) -> dict[str, Any]:
        est = self._session(args)
        ies: list[Any] = []
        if "gnb" in args or "gnb_teid" in args:
            teid = int(args.get("gnb_teid", self.info[args["session"]]["gnb_teid"]))
            ies.append(
                rules.update_dl_far(
                    2, teid, str(args.get("gnb")), bool(args.get("end_marker", False))
                )
            )
            self.info[args["session"]]["gnb_teid"] = teid
        if "gates" in args:
            if args["gates"] not in ("open", "closed"):
                raise ScenarioError(f"gates: open or closed, not {args['gates']!r}")
            ies.append(rules.update_qer_gates(1, args["gates"] == "open"))
        if not ies:
            raise ScenarioError("modify needs gnb/gnb_teid or gates")
        answer = self.client.modify(est.up_seid, ies)
        self._accepted(answer, "modification")
        return {"session": args["session"], "cause": cause_of(answer)}

    def _query(self, args: Mapping[str, Any]) -> dict[str, Any]:
        est = self._session(args)
        answer = self.client.modify(est.up_seid, [Grouped(T.QUERY_URR, [S.URRID(1)])])
        self._accepted(answer, "Query URR")
        return {"session": args["session"], **_usage(answer, T.USAGE_REPORT_MODIFICATION_RESPONSE)}

    def _wait_reports(self, args: Mapping[str, Any]) -> dict[str, Any]:
        have = len(self.client.reports)
        count, timeout = int(args.get("count", 1)), float(args.get("timeout", 5.0))
        self.client.wait_report(timeout=timeout, count=have + count)
        new = self.client.reports[have:]
        usage: dict[str, Any] = {"reports": len(new), "ul": 0, "dl": 0}
        for msg in new:
            for key, value in _usage(msg, T.USAGE_REPORT_REPORT_REQUEST).items():
                if key in ("ul", "dl"):
                    usage[key] += value
        return usage

    def _sleep(self, args: Mapping[str, Any]) -> dict[str, Any]:
        self.client.poll(float(args["seconds"]))
        return {"seconds": args["seconds"]}

    def _delete(self, args: Mapping[str, Any]) -> dict[str, Any]:
        est = self._session(args)
        answer = self.client.delete(est.up_seid)
        self._accepted(answer, "deletion")
        del self.sessions[args["session"]]
        return {"session": args["session"], **_usage(answer, T.USAGE_REPORT_DELETION_RESPONSE)}


def _usage(msg: Message, report_type: int) -> dict[str, int]:
    """Octets and packets of every Usage Report of ``report_type`` in ``msg``, summed."""
    out = {"ul": 0, "dl": 0, "ul_packets": 0, "dl_packets": 0}
    for volume in rules.usage_volumes(msg, report_type):
        out["ul"] += volume.ul or 0
        out["dl"] += volume.dl or 0
        out["ul_packets"] += volume.ul_packets or 0
        out["dl_packets"] += volume.dl_packets or 0
    return out


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = (
        "Run an SMF scenario (YAML: associate, establish, modify, query, wait_reports, "
        "sleep, delete, release) against a UPF; one line per step; exit 1 naming the first "
        "step that failed. Format: docs/smfsim.md."
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    doc = __doc__ or ""
    steps = doc[doc.index("\n\n    associate") : doc.index("Every step")]
    parser.epilog = f"scenario steps (docs/smfsim.md):{steps}"
    parser.add_argument("scenario", help="scenario file (YAML)")
    parser.add_argument("--upf", help="the UPF's PFCP endpoint host[:port] (else the file's)")
    parser.add_argument(
        "--local", help="our PFCP address[:port] (else the file's, else 127.0.0.1:0)"
    )
    parser.add_argument("--netns", metavar="NAME", help="run inside network namespace NAME")
    parser.add_argument("--json", action="store_true", help="print one JSON object per step")
    parser.add_argument(
        "--sessions-out",
        metavar="FILE",
        help="write the established sessions as JSON (input of pfcpd gnbsim run --sessions)",
    )
    return parser


def run_scenario(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    try:
        scenario = Scenario.load(Path(args.scenario).read_text())
        upf_text = args.upf or scenario.upf
        if not upf_text:
            raise ScenarioError("no UPF: give --upf or `upf:` in the scenario")
        upf = parse_endpoint(str(upf_text))
        local = parse_endpoint(str(args.local or scenario.local or "127.0.0.1:0"), 0)
    except (OSError, ValueError, ScenarioError, yaml.YAMLError) as exc:
        print(f"pfcpd smfsim: {exc}", file=sys.stderr)
        return 2
    if args.netns:
        from ..gnbsim.netns import enter

        enter(args.netns)

    def emit(result: dict[str, Any]) -> None:
        if args.json:
            print(json.dumps(result), file=out, flush=True)
        else:
            rest = " ".join(f"{k}={v}" for k, v in result.items() if k not in ("step", "kind"))
            print(f"{result['step']:>3} {result['kind']:<13} {rest}", file=out, flush=True)

    try:
        client = SmfClient(
            (upf.host, upf.port),
            (local.host, local.port),
            scenario.node_id,
            scenario.t1,
            scenario.n1,
        )
    except OSError as exc:
        print(f"pfcpd smfsim: cannot use {local.host}:{local.port}: {exc}", file=sys.stderr)
        return 2
    # A random first sequence number, as a restarted SMF may have: a run at the address and
    # port of the previous one is then not taken for its retransmissions by a UPF's
    # duplicate-request cache.
    client.seq = random.randrange(0xFFFFFF)
    runner = Runner(client, emit, Path(args.sessions_out) if args.sessions_out else None)
    try:
        runner.run(scenario)
    except ScenarioError as exc:
        print(f"pfcpd smfsim: FAILED {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    return 0
