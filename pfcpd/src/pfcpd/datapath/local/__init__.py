"""The ``local`` datapath: libupfcore.so embedded in pfcpd (ctypes) plus Linux packet I/O.

- `corelib`: finds and loads libupfcore.so, mirrors its structures (layout checked at load).
- `engine.LocalDatapath`: the `Datapath` implementation on the library; also the per-packet
  calls (`process_ul`, `process_dl`) used by the I/O loop and by tests.
- `io.PacketLoop`: N3 on a kernel UDP socket bound to the N3 address (port 2152), N6 on a
  TUN device; one thread moves packets through the engine.

Finding the library: env ``UPF_CORE_LIB`` (a path to libupfcore.so), else the
``datapath.core_lib`` config key, else the one pfcpd's build installs beside `corelib`
(setup.py), else ``<repo>/build/core/libupfcore.so`` (what ``make test-core`` builds), else
the system library path (``libupfcore.so``).
"""
