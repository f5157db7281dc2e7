"""A budget of request bytes being received at once, shared by the gRPC and HTTP surfaces.

Each surface caps one message or body; nothing capped how many arrive together (8 HTTP bodies
of 139 MB took 1.6 GB). A call reserves its size before its bytes are read and gives it back
once they are in; a call that cannot get its bytes within `wait_s` is refused (503 /
UNAVAILABLE, retry later). A reservation larger than the whole budget waits for it to empty,
then runs alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

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

    def _fits(self, size: int) -> bool:
        return self._used == 0 or self._used + size <= self.capacity

    async def acquire(self, size: int) -> None:
        async with self._changed:
            try:
                async with asyncio.timeout(self._wait_s):
                    await self._changed.wait_for(lambda: self._fits(size))
            except TimeoutError:
                raise Unavailable(
                    "too many request bytes are being received at once; retry shortly",
                    reason="REQUEST_BYTES_BUSY",
                    retry_after_s=max(1.0, self._wait_s),
                ) from None
            self._used += size

    async def release(self, size: int) -> None:
        async with self._changed:
            self._used -= size
            self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def reserved(self, size: int) -> AsyncIterator[None]:
        await self.acquire(size)
        try:
            yield
        finally:
            await self.release(size)
