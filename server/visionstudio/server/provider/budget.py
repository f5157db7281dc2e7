"""One deployment's rate budget: the provider's limits, learned from its answers, and the
optional configured ceilings (images and requests per minute), spent exactly.

The real ceiling of this service is the provider's rate limit. Upstream calls wait here for
budget instead of storming the provider into 429s; waiting callers are served round-robin by
API key, so one busy key cannot starve the others. With no configuration the budget learns the
limits from the `x-ratelimit-*` headers of every answer (`learned.py`) and paces calls to them;
a 429's Retry-After pauses everyone until the provider said it is worth trying.

The configured ceilings' tokens live in this process by default; replicas sharing one account
share them through PostgreSQL (`store/budget_tokens.py`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Mapping
from typing import Protocol

from visionstudio.server.errors import ResourceExhausted
from visionstudio.server.provider.learned import LearnedLimit
from visionstudio.server.provider.rate_headers import limit_reports
from visionstudio.server.provider.token_bucket import TokenBucket


class TokenSource(Protocol):
    async def take(self) -> float:
        """Takes one call's budget and returns 0, or takes nothing and returns the seconds
        until it would be there."""
        ...

    async def clamp(self, kind: str, remaining: float) -> None: ...

    async def close(self) -> None: ...


class LocalTokens:
    def __init__(self, per_minute: Mapping[str, int]) -> None:
        self._buckets = {
            kind: TokenBucket(limit) for kind, limit in per_minute.items() if limit > 0
        }

    @property
    def buckets(self) -> list[TokenBucket]:
        return list(self._buckets.values())

    def wait_for(self, amount: float) -> float:
        return max((b.wait_for(amount) for b in self._buckets.values()), default=0.0)

    async def take(self) -> float:
        wait = self.wait_for(1)
        if wait <= 0:
            for bucket in self._buckets.values():
                bucket.tokens -= 1
        return wait

    async def clamp(self, kind: str, remaining: float) -> None:
        if kind in self._buckets:
            bucket = self._buckets[kind]
            bucket.refill()
            bucket.tokens = min(bucket.tokens, remaining)

    async def close(self) -> None:
        return None


class ProviderBudget:
    def __init__(self, *, images_per_minute: int = 0, requests_per_minute: int = 0) -> None:
        # The configured ceilings (0: none); the provider's own limits are learned.
        self.per_minute = {"images": images_per_minute, "requests": requests_per_minute}
        self._local = LocalTokens(self.per_minute)
        self._source: TokenSource = self._local
        self._shared = False
        self._learned: dict[str, LearnedLimit] = {}
        self._paused_until = 0.0
        self._clamps: dict[str, float] = {}
        # Per caller, the futures of its waiting calls; the order of keys is the round-robin.
        self._waiting: collections.OrderedDict[str, collections.deque[asyncio.Future[None]]] = (
            collections.OrderedDict()
        )
        self._wakeup = asyncio.Event()
        self._granter: asyncio.Task[None] | None = None

    @property
    def has_ceilings(self) -> bool:
        return any(limit > 0 for limit in self.per_minute.values())

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    def share(self, source: TokenSource) -> None:
        """Takes the ceilings' tokens from `source` (shared by replicas) instead of this
        process's own."""
        self._source = source
        self._shared = True

    async def close(self) -> None:
        if self._granter is not None:
            self._granter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._granter
        await self._source.close()

    async def acquire(self, caller: str, deadline: float) -> None:
        """Waits for one upstream call's worth of budget, or raises ResourceExhausted when
        it cannot come before `deadline` (time.monotonic())."""
        if not self._waiting and not self._shared and self._wait_now() <= 0:
            self._take_local()  # the common case: nobody waits and there is room
            return
        expected = self.estimated_wait()
        if expected > deadline - time.monotonic():
            # It will not come in time: say so now, with when it would, instead of at the end.
            raise self._exhausted(expected)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(caller, collections.deque()).append(waiter)
        self._wakeup.set()
        if self._granter is None or self._granter.done():
            self._granter = asyncio.create_task(self._grant(), name="provider-budget")
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await asyncio.shield(waiter)
        except TimeoutError:
            if waiter.done():
                return  # granted as the deadline passed: use it
            waiter.cancel()
            raise self._exhausted(self.estimated_wait()) from None
        except asyncio.CancelledError:
            waiter.cancel()
            raise

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learns the provider's limits and what is left of them from an answer's headers;
        applied before the next call starts."""
        for report in limit_reports(headers):
            if report.kind == "tokens":
                # What one image costs in tokens is not known before: only an empty
                # bucket stops calls, until it refills.
                if report.remaining <= 0:
                    self.pause(report.reset_s)
                continue
            if (learned := self._learned.get(report.kind)) is None:
                self._learned[report.kind] = LearnedLimit(report)
            else:
                learned.observe(report)
            if self.per_minute.get(report.kind, 0) > 0:
                self._clamps[report.kind] = report.remaining
        self._wakeup.set()

    def pause(self, seconds: float) -> None:
        """After a 429: nobody calls upstream until the provider said it is worth trying."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        self._wakeup.set()

    def estimated_wait(self) -> float:
        """Seconds until one more call, behind everyone waiting, would get its budget (this
        process's view; replicas sharing the ceilings may make it longer)."""
        return self._wait_now(1 + self.waiting)

    def _wait_now(self, amount: float = 1) -> float:
        pause = self._paused_until - time.monotonic()
        learned = max((limit.wait_for(amount) for limit in self._learned.values()), default=0.0)
        ceilings = 0.0 if self._shared else self._local.wait_for(amount)
        return max(0.0, pause, learned, ceilings)

    def _take_local(self) -> None:
        for limit in self._learned.values():
            limit.take()
        for bucket in self._local.buckets:
            bucket.tokens -= 1

    @staticmethod
    def _exhausted(wait: float) -> ResourceExhausted:
        return ResourceExhausted(
            "the provider's rate budget has no room before the deadline",
            reason="PROVIDER_BUDGET",
            retry_after_s=max(1.0, wait),
        )

    def _next_waiter(self) -> asyncio.Future[None] | None:
        """The next live waiter, taking callers in turn."""
        while self._waiting:
            caller, queue = next(iter(self._waiting.items()))
            while queue and queue[0].done():
                queue.popleft()  # gave up (deadline or cancellation)
            if not queue:
                del self._waiting[caller]
                continue
            # This caller goes to the back of the line for its next call.
            self._waiting.move_to_end(caller)
            return queue.popleft()
        return None

    async def _grant(self) -> None:
        while (waiter := self._next_waiter()) is not None:
            while not waiter.done():
                for kind, remaining in list(self._clamps.items()):
                    del self._clamps[kind]
                    await self._source.clamp(kind, remaining)
                learned = max((x.wait_for(1) for x in self._learned.values()), default=0.0)
                wait = max(self._paused_until - time.monotonic(), learned)
                if wait <= 0:
                    wait = await self._source.take()
                    if wait <= 0:
                        for limit in self._learned.values():
                            limit.take()
                        # (A waiter that gave up during a shared take leaves its token unused.)
                        if not waiter.done():
                            waiter.set_result(None)
                        break
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wakeup.wait()
