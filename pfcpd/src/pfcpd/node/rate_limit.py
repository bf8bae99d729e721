"""Per-peer request rate limit: one token bucket per peer IP address."""

from __future__ import annotations

from itertools import islice

_MAX_PEERS = 10_000


class RateLimiter:
    """Admit at most ``rate`` requests per second per peer, with bursts up to ``burst``.

    At most ``max_peers`` buckets are kept: when full, buckets that have refilled (they hold
    no information) go first, then the least recently created half. A flood from many
    sources thus costs bounded memory and an amortized constant time per request; a peer
    whose bucket is forgotten starts again with a full burst.
    """

    def __init__(self, rate: float, burst: int, max_peers: int = _MAX_PEERS) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_peers = max_peers
        self._buckets: dict[str, tuple[float, float]] = {}  # ip -> (tokens, updated at)

    def __len__(self) -> int:
        return len(self._buckets)

    def admit(self, ip: str, now: float) -> bool:
        buckets = self._buckets
        bucket = buckets.get(ip)
        burst = self.burst
        if bucket is None:
            # (min(burst, burst + (now - now) * rate): burst, whatever the rate)
            tokens = burst
            if len(buckets) >= self.max_peers:
                self._make_room(now)
        else:
            tokens = bucket[0] + (now - bucket[1]) * self.rate
            if not tokens < burst:  # (min(burst, tokens) without its call; NaN -> burst)
                tokens = burst
        if tokens >= 1.0:
            buckets[ip] = (tokens - 1.0, now)
            return True
        buckets[ip] = (tokens, now)
        return False

    def _make_room(self, now: float) -> None:
        for ip, (tokens, updated) in list(self._buckets.items()):
            if tokens + (now - updated) * self.rate >= self.burst:
                del self._buckets[ip]
        if len(self._buckets) > self.max_peers // 2:
            excess = len(self._buckets) - self.max_peers // 2
            for ip in list(islice(self._buckets, excess)):
                del self._buckets[ip]
