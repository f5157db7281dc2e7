"""The provider budget's tokens in PostgreSQL, so replicas sharing an account share one budget."""

from __future__ import annotations

import time
from collections.abc import Mapping

import asyncpg


class PostgresTokens:
    """One row per limit kind; every take is one short transaction holding those rows."""

    def __init__(self, pool: asyncpg.Pool, account: str, per_minute: Mapping[str, int]) -> None:
        self._pool = pool
        self._account = account
        self._per_minute = {kind: limit for kind, limit in per_minute.items() if limit > 0}

    @classmethod
    async def open(cls, dsn: str, account: str, per_minute: Mapping[str, int]) -> PostgresTokens:
        """The job store's migrations made the table; this only needs a small pool."""
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        return cls(pool, account, per_minute)

    async def take(self) -> float:
        """Takes one call's tokens of every kind and returns 0, or takes nothing and returns
        the seconds until they would all be there."""
        now = time.time()
        async with self._pool.acquire() as conn, conn.transaction():
            for kind, limit in self._per_minute.items():
                await conn.execute(
                    "INSERT INTO provider_budget (account, kind, tokens, updated)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    self._account,
                    kind,
                    float(limit),
                    now,
                )
            rows = await conn.fetch(
                "SELECT kind, tokens, updated FROM provider_budget WHERE account = $1"
                " ORDER BY kind FOR UPDATE",
                self._account,
            )
            available: dict[str, float] = {}
            wait = 0.0
            for row in rows:
                per_minute = self._per_minute.get(row["kind"])
                if per_minute is None:
                    continue
                rate = per_minute / 60.0
                refill = max(0.0, now - row["updated"]) * rate
                tokens = min(float(per_minute), row["tokens"] + refill)
                available[row["kind"]] = tokens
                wait = max(wait, (1.0 - tokens) / rate)
            taken = 1.0 if wait <= 0 else 0.0
            for kind, tokens in available.items():
                await conn.execute(
                    "UPDATE provider_budget SET tokens = $1, updated = $2"
                    " WHERE account = $3 AND kind = $4",
                    tokens - taken,
                    now,
                    self._account,
                    kind,
                )
        return max(0.0, wait)

    async def clamp(self, kind: str, remaining: float) -> None:
        """Never believes in more tokens than the provider says are left."""
        if kind in self._per_minute:
            await self._pool.execute(
                "UPDATE provider_budget SET tokens = LEAST(tokens, $1)"
                " WHERE account = $2 AND kind = $3",
                remaining,
                self._account,
                kind,
            )

    async def close(self) -> None:
        await self._pool.close()
