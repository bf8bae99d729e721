"""The ``vpp`` datapath: the UPF plugin inside VPP does the packet work; pfcpd programs it
over VPP's binary API socket with vpp_papi's asyncio client (optional dependency: the
``pfcpd[vpp]`` extra, or VPP's python3-vpp-api package).

- `settings`: the ``datapath.vpp`` keys (API socket, timeouts, interface roles, FIB tables).
- `translate`: SessionProgram -> upf.api's upf_session_add_del rules; usage and event
  records -> Usage and DatapathEvent. Pure functions.
- `client.ApiClient`: the vpp_papi_async client in its own thread and asyncio loop.
- `datapath.VppDatapath`: the Datapath implementation: calls, usage cache, events,
  reconciliation after a pfcpd restart, re-programming after a VPP restart.
"""
