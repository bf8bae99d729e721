"""A gNB simulator for the N3 side of a UPF: GTP-U for N sessions with the PDU Session
Container (QFI), GTP-U echo answered, ICMP echo and UDP streams sent from each UE, and per
session loss, latency and throughput (``pfcpd gnbsim``, docs/gnbsim.md).

- `packets`: IPv4, UDP and ICMP echo packets of a UE, built and read.
- `gtpu`: GTP-U messages (TS 29.281) with the PDU Session Container (TS 38.415).
- `sim.GnbSimulator`: the sessions, one N3 socket, the traffic and the measurements.
- `responder.UdpEchoResponder`: the data network's side, echoing UDP back to the UEs.
- `netns`: running a simulator, or one thread of it, inside a network namespace.
- `receiver.Receiver`: the thread handing each received datagram to its handler.
"""
