"""A provider limit learned from its answers: a bucket whose size and refill rate the
x-ratelimit-* headers reveal, with no configuration.

An answer says the limit L, what remains R (rounded down) and the time until the bucket is full
again. The bucket refills continuously, so the rate lies between (L - R - 1) / reset and
(L - R) / reset; every answer narrows it. Calls are paced at the highest proven lower bound, so
pacing never outruns the provider (a 429 corrects any remaining error).
"""

from __future__ import annotations

import math
import time

from visionstudio.server.provider.rate_headers import LimitReport

# OpenAI's limits are per minute: the guess until an answer proves a rate.
DEFAULT_WINDOW_S = 60.0


class LearnedLimit:
    def __init__(self, report: LimitReport) -> None:
        self.limit = report.limit
        self.tokens = report.remaining
        self._updated = time.monotonic()
        self._rate_low = 0.0
        self._rate_high = math.inf
        self.observe(report)

    @property
    def rate(self) -> float:
        """Tokens per second the provider gives back."""
        if self._rate_low > 0:
            return self._rate_low
        if self._rate_high < math.inf:
            return self._rate_high
        return self.limit / DEFAULT_WINDOW_S

    def observe(self, report: LimitReport) -> None:
        self._refill()
        if report.limit != self.limit:  # the account's tier changed: learn afresh
            self.limit, self.tokens = report.limit, report.remaining
            self._rate_low, self._rate_high = 0.0, math.inf
        deficit = report.limit - report.remaining
        if report.reset_s > 0 and deficit > 0:
            low, high = (deficit - 1) / report.reset_s, deficit / report.reset_s
            if low > self._rate_high or high < self._rate_low:
                # Inconsistent with what was learned (rounded resets, a changed limit).
                self._rate_low, self._rate_high = 0.0, math.inf
            self._rate_low = max(self._rate_low, low)
            self._rate_high = min(self._rate_high, high)
        # Never believe in more than the provider says is left (calls granted here but not
        # yet seen upstream are already taken off).
        self.tokens = min(self.tokens, report.remaining)

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` tokens exist (beyond one bucketful, as an estimate)."""
        self._refill()
        return max(0.0, (amount - self.tokens) / self.rate)

    def take(self) -> None:
        self._refill()
        self.tokens -= 1

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.limit, self.tokens + (now - self._updated) * self.rate)
        self._updated = now
