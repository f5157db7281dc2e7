"""When a lease held by this process is due for renewal: a third of the way through it.

The holders (LiveJobs, LiveBatches) read their records often, to see a cancel made through
another replica at once; renewing is a write, and on SQLite every write waits for the one write
lock, so they renew only when it is due rather than at every read.
"""

from __future__ import annotations

import time


class LeaseClock:
    def __init__(self, lease_s: float) -> None:
        self._every_s = lease_s / 3
        self._due: dict[str, float] = {}

    def held(self, key: str) -> None:
        """A lease just taken (or renewed) for `key`."""
        self._due[key] = time.monotonic() + self._every_s

    def due(self, key: str) -> bool:
        """True (and counted as renewed) when `key`'s lease should be renewed now."""
        if time.monotonic() < self._due.get(key, 0.0):
            return False
        self.held(key)
        return True

    def drop(self, key: str) -> None:
        self._due.pop(key, None)
