"""A continuously refilling per-minute token bucket, like the provider's own rate limits."""

from __future__ import annotations

import time


class TokenBucket:
    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.tokens = float(per_minute)
        self._updated = time.monotonic()

    def refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate)
        self._updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` tokens exist (possibly beyond one bucketful, as an estimate)."""
        self.refill()
        return max(0.0, (amount - self.tokens) / self.rate)

    def take(self, amount: float) -> float:
        """Takes `amount` tokens and returns 0, or takes nothing and returns the seconds until
        they exist (infinite when they never fit in the bucket)."""
        if amount > self.capacity:
            return float("inf")
        wait = self.wait_for(amount)
        if wait <= 0:
            self.tokens -= amount
        return wait
