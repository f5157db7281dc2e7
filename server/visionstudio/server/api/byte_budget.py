"""A budget of request bytes being received at once, shared by the gRPC and HTTP surfaces.

Each surface caps one message or body; nothing capped how many arrive together (8 HTTP bodies
of 139 MB took 1.6 GB). A call reserves what its request costs in memory before its bytes
are read and gives it back once they are parsed; a call that finds no room within `wait_s`
is refused (503 / UNAVAILABLE, retry later). A reservation larger than the whole budget waits
for it to empty, then runs alone. An HTTP body's reservation may grow once its bytes show
what parsing them costs (`api/http/bodies.py`); a gRPC call's shrinks to what its message
costs once received (`api/grpc/interceptor.py`).
"""

from __future__ import annotations

import asyncio

from visionstudio.server.errors import Unavailable


class ByteBudget:
    def __init__(self, capacity: int, *, wait_s: float) -> None:
        self.capacity = capacity
        self._wait_s = wait_s
        self._used = 0
        self._changed = asyncio.Condition()

    @property
    def used(self) -> int:
        return self._used

    def _fits(self, size: int, held: int) -> bool:
        # `held`: what the caller already holds; alone in the budget, it may pass it.
        return self._used == held or self._used + size <= self.capacity

    async def acquire(self, size: int, *, held: int = 0) -> None:
        async with self._changed:
            try:
                async with asyncio.timeout(self._wait_s):
                    await self._changed.wait_for(lambda: self._fits(size, held))
            except TimeoutError:
                raise self.busy() from None
            self._used += size

    @property
    def wait_s(self) -> float:
        return self._wait_s

    def busy(self) -> Unavailable:
        """What a call that found no room within `wait_s` is refused with."""
        return Unavailable(
            "too many request bytes are being received at once; retry shortly",
            reason="REQUEST_BYTES_BUSY",
            retry_after_s=max(1.0, self._wait_s),
        )

    async def release(self, size: int) -> None:
        async with self._changed:
            self._used -= size
            self._changed.notify_all()

    async def reserve(self, size: int) -> Reservation:
        await self.acquire(size)
        return Reservation(self, size)


class Reservation:
    """Bytes held in a budget: they may grow or shrink as what they cover becomes known, and
    are given back once."""

    def __init__(self, budget: ByteBudget, size: int) -> None:
        self._budget = budget
        self.size = size

    async def resize(self, size: int) -> None:
        if size > self.size:
            await self._budget.acquire(size - self.size, held=self.size)
            self.size = size
        elif size < self.size:
            freed, self.size = self.size - size, size
            # Shielded: a caller cancelled here (its client gone) must not keep the bytes.
            await asyncio.shield(self._budget.release(freed))

    async def release(self) -> None:
        await self.resize(0)
