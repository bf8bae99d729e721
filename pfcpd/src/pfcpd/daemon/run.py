"""``pfcpd run --config FILE``: the daemon's life cycle.

Start-up: validate the config, restore or create the state in ``state_dir``, start the
datapath (`datapath_service`), restore the sessions from the journal in ``state_dir``
(`session_journal`) into the session engine and so into the datapath, open the PFCP, admin
and metrics endpoints, then tell systemd READY=1. SIGHUP reloads the allow-list, rate limit
and log level (nothing else changes without a restart; a bad file keeps the old settings).
SIGTERM/SIGINT: originate no new requests, let in-flight transactions finish within
``pfcp.drain_timeout``, save the state, stop the datapath, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from ..config import Config, ConfigError, PfcpConfig, load_config
from ..node.node_metrics import NodeMetrics
from ..session import EngineSettings, JournalError, SessionEngine
from ..session.marks import MARKS_KEY
from .admin import start_admin_server
from .datapath_service import DatapathStartError, open_datapath
from .gc_tuning import PeriodicFreeze
from .host_addresses import HostAddresses
from .logs import set_level, setup_logging
from .metrics_http import start_metrics_server
from .sd_notify import notify, reloading
from .server import PfcpServer
from .session_journal import SessionJournal
from .state_store import load_state, save_state

log = logging.getLogger("pfcpd")

# What SIGHUP applies; a change anywhere else waits for a restart (and is logged as such).
RELOADABLE_PFCP_KEYS = frozenset({"allowed_peers", "rate_limit"})
_TOP_KEYS = (
    ("node_id", "node_id"),
    ("datapath", "datapath"),
    ("interfaces", "interfaces"),
    ("network_instances", "network_instances"),
    ("state_dir", "state_dir"),
    ("metrics.listen", "metrics_listen"),
    ("admin.socket", "admin_socket"),
)


def restart_needed(old: Config, new: Config) -> list[str]:
    """The keys whose change a reload cannot apply (the running value stays)."""
    keys = [
        f"pfcp.{f.name}"
        for f in dataclasses.fields(PfcpConfig)
        if f.name not in RELOADABLE_PFCP_KEYS
        and getattr(old.pfcp, f.name) != getattr(new.pfcp, f.name)
    ]
    keys += [key for key, attr in _TOP_KEYS if getattr(old, attr) != getattr(new, attr)]
    if old.logging.format != new.logging.format:
        keys.append("logging.format")
    return keys


class Daemon:
    def __init__(self, config_path: Path, config: Config) -> None:
        self.config_path = config_path
        self.config = config
        self.stopping = asyncio.Event()
        self.server: PfcpServer | None = None
        self.engine: SessionEngine | None = None

    async def run(self) -> int:
        cfg = self.config
        # Signals first: a SIGTERM (or SIGHUP) during start-up must not kill the process with
        # the default action; the stop waits until everything is up, then runs in order.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        state, why = load_state(cfg.state_dir, cfg.node_id)
        log.info("%s; recovery time stamp %d", why, state.recovery_time_stamp)
        if not state.restored:
            save_state(cfg.state_dir, state)
        try:
            datapath = open_datapath(cfg)
        except DatapathStartError as exc:
            log.error("cannot start: %s", exc)
            return 1
        metrics = NodeMetrics()
        try:
            journal = SessionJournal(cfg.state_dir)
            records = list(journal.records())
            if records and not state.restored:
                # A new Recovery Time Stamp tells the CPs this UPF's state is gone: so it is.
                # The allocators' marks stay: the SMFs establish their sessions again while
                # peers may still send to the old TEIDs and UE addresses.
                gone = [key for key, _ in records if key != MARKS_KEY]
                if gone:
                    log.warning("node state new: %d journal record(s) discarded", len(gone))
                    journal.commit({}, gone)
                records = [(key, value) for key, value in records if key == MARKS_KEY]
        except JournalError as exc:
            datapath.stop()
            log.error("cannot start: session journal: %s", exc)
            return 1
        settings = EngineSettings.from_config(cfg)
        assert settings.network_instance_index == datapath.network_instances
        self.engine = engine = SessionEngine(
            settings, datapath.datapath, journal, registry=metrics.registry
        )
        restored = engine.restore(records, loop.time())
        log.info("%d session(s) restored from %s", restored, journal.path)
        try:
            datapath.start()
        except DatapathStartError as exc:
            journal.close()
            datapath.stop()
            log.error("cannot start: %s", exc)
            return 1
        datapath.register_metrics(metrics.registry)
        metrics.registry.add_process_metrics()
        # The sans-IO node asks the kernel about the host's addresses here: with a wildcard
        # listen address, the host's are pfcpd's (no Session Report Request to an F-SEID
        # naming one); with several listen addresses, a request of pfcpd's own leaves from
        # the one the kernel sends to its destination from.
        self.server = server = PfcpServer(
            cfg, state, metrics, engine, journal, host_addresses=HostAddresses()
        )
        await server.start()
        admin = await start_admin_server(cfg.admin_socket, self.admin_command)
        log.info("admin socket %s", cfg.admin_socket)
        metrics_server = None
        if cfg.metrics_listen is not None:

            def exposition(accept: str) -> tuple[bytes, str]:
                server.count_kernel_drops()
                return metrics.registry.exposition(accept)

            metrics_server = await start_metrics_server(cfg.metrics_listen, exposition)
            log.info("metrics on http://%s/metrics", cfg.metrics_listen)
        freezer = PeriodicFreeze(loop)
        freezer.start()
        notify("READY=1")
        log.info("pfcpd ready, node id %s", cfg.node_id)
        await self.stopping.wait()
        freezer.stop()

        notify("STOPPING=1")
        log.info("stopping: finishing %d transaction(s) in flight", server.node.in_flight)
        server.stop_originating()
        deadline = loop.time() + cfg.pfcp.drain_timeout
        while server.node.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if server.node.in_flight:
            log.warning("%d transaction(s) unfinished at shutdown", server.node.in_flight)
        admin.close()
        if metrics_server is not None:
            metrics_server.close()
        saved = server.close()  # writes the state (and fsyncs the session journal)
        journal.close()
        datapath.stop()
        with contextlib.suppress(OSError):
            cfg.admin_socket.unlink()
        if not saved:
            log.error("stopped; the state in %s is NOT saved (see above)", cfg.state_dir)
            return 1
        log.info("stopped; state saved in %s", cfg.state_dir)
        return 0

    def reload(self) -> None:
        notify(reloading())
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            for line in exc.errors:
                log.error("reload refused, keeping the running settings: %s", line)
            notify("READY=1")
            return
        set_level(new.logging.level)
        if self.server is not None:
            node = self.server.node
            node.reconfigure(new.pfcp.allowed_peers, new.pfcp.rate_limit)
            for assoc in node.associations():
                if not node.allow_list.allows(assoc.addr[0]):
                    log.warning(
                        "reload: the association with %s at %s is outside pfcp.allowed_peers "
                        "now: its datagrams are dropped, and it will be lost",
                        assoc.node_id,
                        assoc.addr[0],
                    )
        old = self.config
        for key in restart_needed(old, new):
            log.warning("reload: %s changed; it takes effect at the next restart", key)
        # What runs now: the old settings with the reloaded ones applied.
        self.config = dataclasses.replace(
            old,
            pfcp=dataclasses.replace(
                old.pfcp, allowed_peers=new.pfcp.allowed_peers, rate_limit=new.pfcp.rate_limit
            ),
            logging=dataclasses.replace(old.logging, level=new.logging.level),
        )
        log.info(
            "reloaded: log level %s, allowed peers %s",
            new.logging.level,
            self.server.node.allow_list.describe() if self.server else "?",
        )
        notify("READY=1")

    def admin_command(self, request: dict[str, Any]) -> dict[str, Any]:
        server = self.server
        if server is None:
            return {"error": "starting"}
        command = request.get("command")
        if command == "show associations":
            offset = server.unix_offset()
            return {
                "node_id": self.config.node_id,
                "recovery_time_stamp": server.state.recovery_time_stamp,
                "associations": [a.to_record(offset) for a in server.node.associations()],
            }
        if command == "show sessions":
            seid = request.get("seid")
            if seid is not None and (not isinstance(seid, int) or isinstance(seid, bool)):
                return {"error": "seid must be an integer"}
            assert self.engine is not None
            return {"sessions": self.engine.sessions_view(seid)}
        if command == "show paths":
            assert self.engine is not None
            return self.engine.paths_view()
        if command == "release association":
            node_id = request.get("node_id")
            if not isinstance(node_id, str):
                return {"error": "node_id missing"}
            if not server.release(node_id):
                return {"error": f"no association with {node_id}"}
            return {"ok": True}
        return {"error": f"unknown command {command!r}"}


def run(config_path: str) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        for line in exc.errors:
            print(f"pfcpd: {line}", file=sys.stderr)
        return 1
    setup_logging(config.logging.format, config.logging.level)
    try:
        return asyncio.run(Daemon(Path(config_path), config).run())
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
