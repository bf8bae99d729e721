"""An SMF simulator on pfcpd's own codec: it associates with a UPF over PFCP, sets sessions
up, changes and deletes them, and answers the UPF's requests (heartbeats, Session Reports).

- `rules`: builders of the session rules and requests an SMF sends.
- `client.SmfClient`: one CP endpoint (a UDP socket), request by request, for tests and tools.
- `loadgen`: many sessions with many requests in flight (``pfcpd loadgen``).
"""
