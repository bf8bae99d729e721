"""The asyncio edge of pfcpd: sockets, timers, signals, files; drives the sans-IO node."""
