"""Per-peer request rate limit: one token bucket per peer IP address."""

from __future__ import annotations

_MAX_PEERS = 10_000


class RateLimiter:
    """Admit at most ``rate`` requests per second per peer, with bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # ip -> (tokens, updated at)

    def admit(self, ip: str, now: float) -> bool:
        tokens, updated = self._buckets.get(ip, (self.burst, now))
        tokens = min(self.burst, tokens + (now - updated) * self.rate)
        admitted = tokens >= 1.0
        if admitted:
            tokens -= 1.0
        if ip not in self._buckets and len(self._buckets) >= _MAX_PEERS:
            self._forget_full(now)
        self._buckets[ip] = (tokens, now)
        return admitted

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely: they hold no information."""
        for ip, (tokens, updated) in list(self._buckets.items()):
            if tokens + (now - updated) * self.rate >= self.burst:
                del self._buckets[ip]
