"""The lab's smoke test (`make lab`, after the converge; docs/lab.md).

One process keeps sockets in three namespaces (pfcpd.gnbsim.netns): the SMF simulator in
upflab-smf talks PFCP to pfcpd on the lab host's N4 address; the gNB simulator in upflab-gnb
sends GTP-U to the allocated F-TEID; UDP echo responders in upflab-dn (on its IPv4 and its
IPv6 address) answer the UEs' UDP streams (the DN namespace's kernel answers the pings).
Steps, each timed:

associate, establish (CH F-TEID, CHV4, QER with an MBR, URR with a volume threshold), ping
(a GTP-U Echo Request answered by the UPF; ICMP echo from the UE to the DN and from the DN
to the UE, answered by the gNB simulator's UE), udp (a stream under the
MBR, echoed), threshold report (USAR/VOLTH after the threshold), mbr (twice the MBR offered:
what passes is 80% to 110% of the MBR), paging (the UE goes idle: the downlink FAR buffers
and notifies; the DN pings the UE, the UPF buffers the echo requests and sends one Downlink
Data Report naming the downlink PDR; the SMF gives the gNB's tunnel again and the buffered
requests reach the UE, whose replies reach the DN), delete (the final usage report: uplink
octets = what the DN received, downlink octets = what the gNB received, summed over every
report); then a
second session with an IPv6 UE (CHV6): ipv6 establish (a /64 of the IPv6 pool), ipv6 ping
(ICMPv6 echo through GTP-U from the UE to the DN and from the DN to the UE), ipv6 udp (UDP over IPv6, echoed), ipv6 delete (its
final usage report = the octets delivered each way); release, tools (the command-line
simulators: `pfcpd smfsim run lab/scenarios/smoke-tools.yaml` and `pfcpd gnbsim run` on two
sessions).

Prints a summary; exits non-zero naming the failing step.
"""

from __future__ import annotations

import ipaddress
import json
import random
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pfcpd.gnbsim import dnping
from pfcpd.gnbsim.netns import in_netns
from pfcpd.gnbsim.responder import UdpEchoResponder
from pfcpd.gnbsim.sim import (
    PING_OCTETS,
    GnbSimulator,
    Session,
    SessionStats,
    ping_octets,
    wait_until,
)
from pfcpd.pfcp import Cause, IEType, Message
from pfcpd.pfcp import ies_flags as F
from pfcpd.pfcp import ies_scalar as S
from pfcpd.pfcp.ie import Grouped
from pfcpd.smfsim import rules
from pfcpd.smfsim.client import SmfClient, cause_of

if TYPE_CHECKING:
    from lab import Plan

T = IEType
DN_PORT = 9000
GNB_TEID, GNB_TEID6 = 0x1001, 0x1006
MBR_KBPS = 2000
THRESHOLD = 150_000  # octets, uplink + downlink: crossed by the ping and UDP steps
PINGS = 5
DN_PINGS = 3  # the other way: from the DN to the UE
PAGED_PINGS = 3  # from the DN to the UE while it is idle (buffered, then delivered)
UDP_PACKETS, UDP_SIZE = 200, 500
MBR_SIZE, MBR_SECONDS = 1000, 2.0
UDP6_PACKETS = (
    100  # 500 octets each, at a quarter of the first session's MBR (no QER here)
)


class StepFailed(Exception):
    def __init__(self, step: str, why: str) -> None:
        super().__init__(f"{step}: {why}")
        self.step = step


def check(ok: bool, step: str, why: str) -> None:
    if not ok:
        raise StepFailed(step, why)


class Smoke:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.times: list[tuple[str, float]] = []
        self.lines: list[str] = []
        self.current = "setup"

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.current = name
        start = time.monotonic()
        yield
        self.times.append((name, time.monotonic() - start))

    def run(self) -> None:
        from lab import DN, GNB, SMF

        plan = self.plan
        upf = (plan.n4.edge_addr, 8805)
        smf: SmfClient = in_netns(
            SMF, SmfClient, upf, (plan.n4.peer_addr, 8805), "smf.lab"
        )
        smf.seq = random.randrange(0xFFFFFF)  # as pfcpd smfsim run does (scenario.py)
        gnb: GnbSimulator | None = None
        dn: UdpEchoResponder | None = None
        dn6: UdpEchoResponder | None = None
        try:
            with self.step("associate"):
                smf.associate()
            with self.step("establish"):
                est = smf.establish(
                    rules.session_rules(
                        gnb=plan.n3.peer_addr,
                        gnb_teid=GNB_TEID,
                        mbr_kbps=(MBR_KBPS, MBR_KBPS),
                        volume_threshold=THRESHOLD,
                    )
                )
                check(
                    bool(est.ue_addresses), "establish", "no UE address in Created PDR"
                )
                check(1 in est.teids, "establish", "no F-TEID for the uplink PDR")
                ue = est.ue_addresses[0]
                n3, teid = est.teids[1]
                pool = ipaddress.ip_network(plan.ue_pool)
                check(
                    ipaddress.ip_address(ue) in pool,
                    "establish",
                    f"UE {ue} not in {pool}",
                )
                check(n3 == plan.n3.edge_addr, "establish", f"F-TEID address {n3}")
            self.lines.append(
                f"session   UP SEID {est.up_seid:#x}: UE {ue} (CHV4), uplink F-TEID {n3} "
                f"TEID {teid:#x} (CH), downlink to gNB {plan.n3.peer_addr} TEID {GNB_TEID:#x}, "
                f"QER MBR {MBR_KBPS} kbit/s each way, URR volume threshold {THRESHOLD} octets"
            )
            session = Session("lab-1", ue, n3, teid, GNB_TEID, qfi=9)
            gnb = in_netns(GNB, GnbSimulator, plan.n3.peer_addr, [session])
            dn = in_netns(DN, UdpEchoResponder, plan.n6.peer_addr, DN_PORT)
            stats = gnb.stats[session.name]
            with self.step("ping"):
                echo_seq = gnb.echo(n3)
                gnb.ping(session, plan.n6.peer_addr, PINGS)
                wait_until(lambda: stats.pings_answered >= PINGS)
                gnb.wait_quiet()  # a duplicate reply shows in the count
                check(
                    echo_seq in gnb.echo_responses,
                    "ping",
                    f"no GTP-U Echo Response from the UPF at {n3}",
                )
                check(
                    stats.pings_answered == PINGS,
                    "ping",
                    f"{stats.pings_answered} of {PINGS} echo replies came back over GTP-U",
                )
                dn_pings = self.ping_ue("ping", ue, stats)
            with self.step("udp"):
                gnb.udp_stream(
                    session,
                    (plan.n6.peer_addr, DN_PORT),
                    UDP_SIZE,
                    MBR_KBPS * 1000 / 4,
                    count=UDP_PACKETS,
                )
                wait_until(lambda: stats.udp_echoed >= UDP_PACKETS)
                gnb.wait_quiet()
                check(
                    dn.packets == UDP_PACKETS and stats.udp_echoed == UDP_PACKETS,
                    "udp",
                    f"DN received {dn.packets}, gNB got {stats.udp_echoed} echoed of "
                    f"{UDP_PACKETS} (under the MBR nothing may be lost)",
                )
            self.lines.append(
                f"traffic   GTP-U echo answered in {gnb.echo_responses[echo_seq]:.2f} ms; "
                f"ping {stats.pings_answered}/{PINGS} UE to DN, {dn_pings}/{DN_PINGS} DN to UE; "
                f"UDP {UDP_PACKETS} x "
                f"{UDP_SIZE} octets, DN received {dn.packets}, echoed back {stats.udp_echoed}; "
                f"RTT p50 {stats.rtt_ms(0.5):.2f} ms p99 {stats.rtt_ms(0.99):.2f} ms"
            )
            with self.step("threshold report"):
                self.threshold_report(smf)
            dn_before = dn.octets
            with self.step("mbr"):
                dn.first = 0.0
                dn_packets_before = dn.packets
                sent = gnb.udp_stream(
                    session,
                    (plan.n6.peer_addr, DN_PORT),
                    MBR_SIZE,
                    2 * MBR_KBPS * 1000,
                    duration=MBR_SECONDS,
                )
                gnb.wait_quiet()
                passed = (dn.octets - dn_before) * 8 / MBR_SECONDS
                offered = sent * MBR_SIZE * 8 / MBR_SECONDS
                mbr = MBR_KBPS * 1000
                self.lines.append(
                    f"mbr       offered {offered / 1e6:.2f} Mbit/s uplink, passed "
                    f"{passed / 1e6:.2f} Mbit/s ({dn.packets - dn_packets_before} of {sent} "
                    f"packets), MBR {mbr / 1e6:.2f} Mbit/s"
                )
                check(offered > 1.5 * mbr, "mbr", f"only {offered:.0f} bit/s offered")
                # Policing: at most the MBR + 10%. At least 80% of it: the local datapath
                # (Python) loses some packets of its own on a loaded machine.
                check(
                    0.8 * mbr <= passed <= 1.1 * mbr,
                    "mbr",
                    f"{passed:.0f} bit/s passed, MBR {mbr} bit/s (80% to 110% expected)",
                )
            with self.step("paging"):
                dn_pings += self.paging(smf, est.up_seid, ue, stats)
            with self.step("delete"):
                answer = smf.delete(est.up_seid)
                check(cause_of(answer) == Cause.REQUEST_ACCEPTED, "delete", f"{answer}")
                # Every Session Report Request (the threshold re-arms after each report, so
                # the MBR step crosses it again), once each (a retransmission repeats a
                # sequence number), and the deletion's final report.
                reports = {msg.seq: msg for msg in smf.reports}
                ul, dl = reported_usage([*reports.values(), answer])
                gnb.wait_quiet(quiet=0.2)
                self.lines.append(
                    f"packets   uplink: gNB sent {stats.ul.packets} ({stats.ul.octets} octets), "
                    f"DN received {dn.packets} UDP ({dn.octets} octets) and "
                    f"{stats.pings_answered} pings and {dn_pings} echo replies; "
                    f"downlink: gNB received {stats.dl.packets} ({stats.dl.octets} octets), "
                    f"QFI in its PDU Session Containers {sorted(stats.dl_qfis) or 'none'}; "
                    f"GTP-U echo requests answered {gnb.echo_requests_answered}"
                )
                ul_delivered = (
                    dn.octets + (stats.pings_answered + dn_pings) * PING_OCTETS
                )
                self.lines.append(
                    f"usage     reported uplink {ul} octets, downlink {dl} octets "
                    f"in {len(reports)} Session Report(s) and the deletion's final report; "
                    f"delivered uplink {ul_delivered}, "
                    f"downlink {stats.dl.octets}"
                )
                check(
                    ul == ul_delivered,
                    "delete",
                    f"uplink usage {ul} octets, the DN received {ul_delivered}",
                )
                check(
                    dl == stats.dl.octets,
                    "delete",
                    f"downlink usage {dl} octets, the gNB received {stats.dl.octets}",
                )
            dn6 = in_netns(DN, UdpEchoResponder, plan.n6.peer_addr6, DN_PORT)
            self.ipv6(smf, gnb, dn6)
            with self.step("release"):
                smf.release()
            # The command-line simulators use the same addresses.
            gnb.close()
            gnb = None
            smf.close()
            with self.step("tools"):
                self.tools()
        finally:
            for closable in (gnb, dn, dn6, smf):
                if closable is not None:
                    closable.close()

    def ipv6(self, smf: SmfClient, gnb: GnbSimulator, dn: UdpEchoResponder) -> None:
        """A session with an IPv6 UE (CHV6, a /64 prefix from the pool; the UE's address is
        interface identifier 1 in it): ICMPv6 echo to the DN and back, UDP over IPv6 echoed
        by the DN's IPv6 responder, all through GTP-U; the deletion's usage report counts
        the octets delivered each way."""
        plan = self.plan
        dn6 = plan.n6.peer_addr6
        assert dn6 is not None
        with self.step("ipv6 establish"):
            est = smf.establish(
                rules.session_rules(v6=True, gnb=plan.n3.peer_addr, gnb_teid=GNB_TEID6)
            )
            ue, prefixes = (
                est.ue_address(6),
                [n for n in est.ue_networks if n.version == 6],
            )
            check(
                ue is not None and len(prefixes) == 1,
                "ipv6 establish",
                f"no IPv6 UE address in Created PDR: {est.ue_addresses}",
            )
            assert ue is not None
            pool = ipaddress.ip_network(plan.ue_pool6)
            check(
                prefixes[0].subnet_of(pool),  # type: ignore[arg-type]
                "ipv6 establish",
                f"UE prefix {prefixes[0]} not in {pool}",
            )
            check(1 in est.teids, "ipv6 establish", "no F-TEID for the uplink PDR")
            n3, teid = est.teids[1]
        session = Session("lab-6", ue, n3, teid, GNB_TEID6, qfi=9)
        gnb.add(session)
        stats = gnb.stats[session.name]
        with self.step("ipv6 ping"):
            gnb.ping(session, dn6, PINGS)
            wait_until(lambda: stats.pings_answered >= PINGS)
            gnb.wait_quiet()
            check(
                stats.pings_answered == PINGS,
                "ipv6 ping",
                f"{stats.pings_answered} of {PINGS} ICMPv6 echo replies came back over GTP-U",
            )
            dn_pings = self.ping_ue("ipv6 ping", ue, stats)
        with self.step("ipv6 udp"):
            gnb.udp_stream(
                session,
                (dn6, DN_PORT),
                UDP_SIZE,
                MBR_KBPS * 1000 / 4,
                count=UDP6_PACKETS,
            )
            wait_until(lambda: stats.udp_echoed >= UDP6_PACKETS)
            gnb.wait_quiet()
            check(
                dn.packets == UDP6_PACKETS and stats.udp_echoed == UDP6_PACKETS,
                "ipv6 udp",
                f"DN received {dn.packets}, gNB got {stats.udp_echoed} echoed of "
                f"{UDP6_PACKETS} over IPv6",
            )
        with self.step("ipv6 delete"):
            cp_seids = [cp for cp, up in smf.sessions.items() if up == est.up_seid]
            answer = smf.delete(est.up_seid)
            check(
                cause_of(answer) == Cause.REQUEST_ACCEPTED, "ipv6 delete", f"{answer}"
            )
            reports = {m.seq: m for m in smf.reports if m.seid in cp_seids}
            ul, dl = reported_usage([*reports.values(), answer])
            ul_delivered = dn.octets + (stats.pings_answered + dn_pings) * ping_octets(
                dn6
            )
            self.lines.append(
                f"ipv6      UP SEID {est.up_seid:#x}: UE {ue} (CHV6, prefix {prefixes[0]}), "
                f"uplink F-TEID {n3} TEID {teid:#x}, downlink TEID {GNB_TEID6:#x}; "
                f"ping6 {stats.pings_answered}/{PINGS} UE to DN, {dn_pings}/{DN_PINGS} DN to UE; "
                f"UDP {UDP6_PACKETS} x {UDP_SIZE} octets, "
                f"DN [{dn6}]:{DN_PORT} received {dn.packets}, echoed back {stats.udp_echoed}; "
                f"RTT p50 {stats.rtt_ms(0.5):.2f} ms; usage reported uplink {ul}, downlink {dl} "
                f"octets, delivered uplink {ul_delivered}, downlink {stats.dl.octets}"
            )
            check(
                ul == ul_delivered,
                "ipv6 delete",
                f"uplink usage {ul} octets, the DN received {ul_delivered}",
            )
            check(
                dl == stats.dl.octets,
                "ipv6 delete",
                f"downlink usage {dl} octets, the gNB received {stats.dl.octets}",
            )

    def paging(self, smf: SmfClient, up_seid: int, ue: str, stats: SessionStats) -> int:
        """Idle mode and paging (TS 23.502 4.2.6, 4.2.3.3): the SMF makes the downlink FAR
        (2) buffer and notify, with a BAR; the DN pings the UE meanwhile; the UPF buffers the
        echo requests (the gNB gets none) and sends one Session Report Request, a Downlink
        Data Report naming the downlink PDR (2); the SMF answers it and gives the gNB's
        tunnel again (the service request), and the buffered requests reach the UE in
        order, whose replies reach the DN. Returns the replies the DN received."""
        from lab import DN

        step = "paging"
        idle = rules.group(
            T.UPDATE_FAR, S.FARID(2), F.ApplyAction.of("BUFF", "NOCP"), S.BARID(1)
        )
        bar = rules.group(T.CREATE_BAR, S.BARID(1))
        answer = smf.modify(up_seid, [bar, idle])
        check(cause_of(answer) == Cause.REQUEST_ACCEPTED, step, f"idle: {answer}")
        before, reports_before = stats.pings_from_dn, len(smf.reports)
        result: list[dnping.PingResult] = []
        pinger = threading.Thread(
            target=lambda: result.append(
                in_netns(DN, dnping.ping, ue, PAGED_PINGS, 56, 0.05, 8.0)
            ),
            name="lab-paging-ping",
        )
        pinger.start()
        try:
            deadline = time.monotonic() + 5.0
            dldr: list[Message] = []
            while not dldr and (left := deadline - time.monotonic()) > 0:
                smf.receive(left)
                dldr = [
                    m
                    for m in smf.reports[reports_before:]
                    if isinstance(t := m.get(T.REPORT_TYPE), F.ReportType)
                    and t.has("DLDR")
                ]
            check(len(dldr) == 1, step, f"{len(dldr)} Downlink Data Reports within 5 s")
            report = dldr[0].get(T.DOWNLINK_DATA_REPORT)
            check(
                isinstance(report, Grouped) and report.get(T.PDR_ID) == S.PDRID(2),
                step,
                f"the Downlink Data Report names no PDR 2: {report}",
            )
            time.sleep(0.2)  # (the rest of the echo requests: buffered, not sent)
            check(
                stats.pings_from_dn == before,
                step,
                f"the UE got {stats.pings_from_dn - before} echo requests while idle",
            )
            resume = rules.update_dl_far(2, GNB_TEID, self.plan.n3.peer_addr)
            answer = smf.modify(up_seid, [resume])
            check(cause_of(answer) == Cause.REQUEST_ACCEPTED, step, f"resume: {answer}")
        finally:
            pinger.join()
        (ping,) = result
        check(
            ping.received == PAGED_PINGS
            and stats.pings_from_dn - before == PAGED_PINGS,
            step,
            f"the DN pinged the idle UE {ue} {PAGED_PINGS} times: the UE answered "
            f"{stats.pings_from_dn - before}, the DN got {ping.received} replies",
        )
        self.lines.append(
            f"paging    UE idle (FAR 2 BUFF+NOCP): Downlink Data Report for PDR 2, "
            f"{PAGED_PINGS} echo requests from the DN buffered, delivered after the "
            f"service request (the longest round trip {max(ping.rtts_ms):.0f} ms)"
        )
        return ping.received

    def ping_ue(self, step: str, ue: str, stats: SessionStats) -> int:
        """The DN pings the UE (ICMP, or ICMPv6 to an IPv6 UE): down through GTP-U to the
        gNB simulator, whose UE answers, and back up; every request answered. Returns the
        replies the DN received. The UE counts an answer before sending it, so when `ping`
        returns with the replies the count includes each of them: no wait."""
        from lab import DN

        before = stats.pings_from_dn
        result = in_netns(DN, dnping.ping, ue, DN_PINGS)
        check(
            result.received == DN_PINGS and stats.pings_from_dn - before == DN_PINGS,
            step,
            f"the DN pinged the UE {ue} {DN_PINGS} times: the UE answered "
            f"{stats.pings_from_dn - before}, the DN got {result.received} replies",
        )
        return result.received

    def tools(self) -> None:
        """`pfcpd smfsim run` sets two sessions up from a scenario (ue2 dual stack);
        `pfcpd gnbsim run` sends their traffic, IPv4 and IPv6; no loss, and ue1's queried
        usage is what the gNB simulator sent. The smoke's own DN responders answer their
        UDP."""
        from lab import GNB, LOG_DIR, ROOT, SMF

        step, plan = "tools", self.plan
        sessions = LOG_DIR / "tools-sessions.json"
        sessions.unlink(missing_ok=True)
        pfcpd = str(Path(sys.executable).parent / "pfcpd")
        scenario = ROOT / "lab/scenarios/smoke-tools.yaml"
        smf = subprocess.Popen(
            [pfcpd, "smfsim", "run", str(scenario), "--netns", SMF, "--json",
             "--sessions-out", str(sessions)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while len(_read_json(sessions) or []) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            if len(_read_json(sessions) or []) < 2:
                smf.kill()
                _out, err = smf.communicate()
                raise StepFailed(
                    step, f"pfcpd smfsim run set up no 2 sessions: {err.strip()}"
                )
            gnb = subprocess.run(
                [pfcpd, "gnbsim", "run", "--gnb", plan.n3.peer_addr, "--sessions",
                 str(sessions), "--dn", f"{plan.n6.peer_addr}:{DN_PORT}",
                 "--dn", f"[{plan.n6.peer_addr6}]:{DN_PORT}", "--netns", GNB,
                 "--duration", "1", "--udp-rate", "1e6", "--json"],
                check=False, capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            check(gnb.returncode == 0, step, f"pfcpd gnbsim run: {gnb.stderr.strip()}")
            smf_out, smf_err = smf.communicate(timeout=30)
        finally:
            if smf.poll() is None:
                smf.kill()
                smf.wait()
        check(smf.returncode == 0, step, f"pfcpd smfsim run: {smf_err.strip()}")
        results = json.loads(gnb.stdout)["sessions"]
        steps = {
            (s["kind"], s.get("session")): s
            for s in map(json.loads, smf_out.splitlines())
        }
        lost = {name: r["loss"] for name, r in results.items() if r["loss"]}
        check(not lost, step, f"loss {lost}")
        queried, sent = steps[("query", "ue1")]["ul"], results["ue1"]["ul_octets"]
        check(
            queried == sent,
            step,
            f"ue1: Query URR says {queried} octets, gNB sent {sent}",
        )
        self.lines.append(
            "tools     pfcpd smfsim run (2 sessions, ue2 dual stack) + pfcpd gnbsim run: "
            + "; ".join(
                f"{name} {r['ul_packets']}/{r['dl_packets']} packets up/down, loss {r['loss']}, "
                f"RTT p50 {r['rtt_p50_ms']} ms"
                for name, r in results.items()
            )
            + f"; ue1's Query URR {queried} octets up = sent"
        )

    def threshold_report(self, smf: SmfClient) -> None:
        step = "threshold report"
        (report,) = smf.wait_report(timeout=5.0)
        report_type = report.get(T.REPORT_TYPE)
        check(
            isinstance(report_type, F.ReportType) and report_type.has("USAR"),
            step,
            f"not a usage report: {report}",
        )
        (usage,) = report.get_all(T.USAGE_REPORT_REPORT_REQUEST)
        assert isinstance(usage, Grouped)
        trigger = usage.get(T.USAGE_REPORT_TRIGGER)
        check(
            isinstance(trigger, F.UsageReportTrigger) and trigger.has("VOLTH"),
            step,
            f"trigger {trigger}",
        )
        (volume,) = rules.usage_volumes(report, T.USAGE_REPORT_REPORT_REQUEST)
        check(
            (volume.total or 0) >= THRESHOLD,
            step,
            f"total {volume.total} < {THRESHOLD}",
        )
        self.lines.append(
            f"report    Session Report Request USAR/VOLTH at {volume.total} octets "
            f"(threshold {THRESHOLD})"
        )


def smoke(
    plan: Plan,
    deployed: list[tuple[str, float]],
    converge_changed: int,
    deployment: str = "pfcpd (local datapath)",
) -> int:
    run = Smoke(plan)
    failed: StepFailed | None = None
    try:
        run.run()
    except StepFailed as exc:
        failed = exc
    except Exception as exc:  # noqa: BLE001 - a bug: shown with its traceback, step named
        traceback.print_exc()
        failed = StepFailed(run.current, f"{type(exc).__name__}: {exc}")
    print()
    print("UPF lab " + ("FAILED" if failed else "OK: every smoke check passed"))
    if deployed:
        print(
            f"deployed  {deployment} on upf-lab-edge, a systemd-nspawn Debian 12 "
            f"host, with ansible-playbook -i inventory/lab site.yml (changed={converge_changed})"
        )
    for line in run.lines:
        print(line)
    timing = ", ".join(
        f"{name} {seconds:.1f} s" for name, seconds in deployed + run.times
    )
    print(f"time      {timing}")
    if failed:
        print(f"FAILED step {failed.step}: {failed}", file=sys.stderr)
        return 1
    return 0


def reported_usage(messages: list[Message]) -> tuple[int, int]:
    """Uplink and downlink octets of the Usage Reports in Session Report Requests and
    Session Deletion Responses, summed."""
    ul = dl = 0
    for msg in messages:
        for kind in (T.USAGE_REPORT_REPORT_REQUEST, T.USAGE_REPORT_DELETION_RESPONSE):
            for volume in rules.usage_volumes(msg, kind):
                ul += volume.ul or 0
                dl += volume.dl or 0
    return ul, dl


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
