"""Job records in PostgreSQL (asyncpg), shared by every replica of the service."""

from __future__ import annotations

import functools
import itertools
import re
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from visionstudio.server.store import sql
from visionstudio.server.store.batch_records import BatchStatus
from visionstudio.server.store.batch_store import INSERT_BATCH, INSERT_ITEM, PURGEABLE_BATCHES
from visionstudio.server.store.changes import ChangeSignals
from visionstudio.server.store.records import ImageRecord, JobRecord
from visionstudio.server.store.schema import migrations
from visionstudio.server.store.sql_store import SqlJobStore

# pg_advisory_lock key held while migrating, so replicas starting together take turns.
_MIGRATION_LOCK = 0x76_69_73_69_6F_6E  # "vision"
# The NOTIFY channel of job changes (images added, jobs finished or cancelled).
_CHANNEL = "visionstudio_jobs"


@functools.lru_cache(maxsize=256)
def numbered(statement: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2...`` (the shared SQL has no ``?`` literal)."""
    counter = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(counter)}", statement)


class PostgresJobStore(SqlJobStore):
    """jsonb columns travel as JSON text, as SQLite's do, so one row mapping serves both."""

    dialect = sql.POSTGRES
    notifies = True

    def __init__(self, pool: asyncpg.Pool, listener: asyncpg.Connection) -> None:
        self._pool = pool
        self.signals = ChangeSignals()
        # One connection LISTENs for every replica's job changes (the payload is the job id).
        self._listener = listener

    async def _listen(self) -> None:
        await self._listener.add_listener(_CHANNEL, self._heard)

    def _heard(self, conn: object, pid: int, channel: str, payload: object) -> None:
        self.signals.notify(str(payload))

    async def _changed(self, job_id: str) -> None:
        await self._pool.execute("SELECT pg_notify($1, $2)", _CHANNEL, job_id)

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> PostgresJobStore:
        """Connects a pool to `dsn` (postgresql://user:pass@host:port/db) and migrates."""
        pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
        try:
            await cls._migrate(pool)
            store = cls(pool, await asyncpg.connect(dsn))
        except BaseException:
            await pool.close()
            raise
        await store._listen()
        return store

    @staticmethod
    async def _migrate(pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
                applied = {
                    row["version"]
                    for row in await conn.fetch("SELECT version FROM schema_migrations")
                }
                for migration in migrations("postgres"):
                    if migration.version in applied:
                        continue
                    async with conn.transaction():
                        # No arguments: the simple protocol runs a multi-statement script.
                        await conn.execute(migration.sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                            migration.version,
                            migration.name,
                        )
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)

    async def _fetch(self, statement: str, args: Sequence[Any]) -> Sequence[sql.Row]:
        return await self._pool.fetch(numbered(statement), *args)

    async def _execute(self, statement: str, args: Sequence[Any]) -> None:
        await self._pool.execute(numbered(statement), *args)

    async def create_job(
        self, job: JobRecord, *, idempotency_window_s: float = 86400
    ) -> tuple[JobRecord, bool]:
        now = time.time()
        job.created_at = job.updated_at = job.created_at or now
        values = sql.job_values(job)
        async with self._pool.acquire() as conn:
            # The unique (caller, idempotency_key) constraint arbitrates between replicas: an
            # insert racing another with the same key waits for it, then does nothing. A loop,
            # because the holder we then read may give the key up before we lock it.
            while True:
                async with conn.transaction():
                    inserted = await conn.fetchval(
                        numbered(
                            f"{sql.INSERT_JOB} ON CONFLICT (caller, idempotency_key)"
                            " DO NOTHING RETURNING 1"
                        ),
                        *values,
                    )
                    if inserted:
                        return job, True
                    row = await conn.fetchrow(
                        numbered(f"{sql.SELECT_KEY_HOLDER} FOR UPDATE"),
                        job.caller,
                        job.idempotency_key,
                    )
                    if row is None:
                        continue
                    holder = sql.job_from_row(row)
                    if holder.created_at >= now - idempotency_window_s:
                        return holder, False
                    # Expired: the holder gives the key up, in the same transaction as our insert.
                    await conn.execute(numbered(sql.RELEASE_KEY), holder.id)
                    await conn.execute(numbered(sql.INSERT_JOB), *values)
                    return job, True

    async def add_image(self, image: ImageRecord) -> None:
        now = time.time()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(numbered(sql.INSERT_IMAGE), *sql.image_values(image, now))
            await conn.execute("UPDATE jobs SET updated_at = $1 WHERE id = $2", now, image.job_id)
            # Delivered with the commit.
            await conn.execute("SELECT pg_notify($1, $2)", _CHANNEL, image.job_id)

    async def purge(self, older_than: float) -> list[str]:
        # One statement: the jobs and their images go together, and a job that finishes while
        # we purge is either wholly in (keys returned) or wholly out.
        rows = await self._fetch(
            f"WITH doomed AS (DELETE FROM jobs WHERE {sql.PURGEABLE} RETURNING id)"
            " DELETE FROM images WHERE job_id IN (SELECT id FROM doomed) RETURNING blob_key",
            sql.purgeable_args(older_than),
        )
        return [row["blob_key"] for row in rows]

    async def _insert_batch(self, batch: Sequence[Any], items: Sequence[Sequence[Any]]) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(numbered(f"{INSERT_BATCH} RETURNING 1"), *batch):
                return False
            await conn.executemany(numbered(INSERT_ITEM), items)
        return True

    async def purge_batches(self, older_than: float) -> int:
        # One statement, as `purge`: a batch and its items go together.
        rows = await self._fetch(
            f"WITH doomed AS (DELETE FROM batches WHERE id IN ({PURGEABLE_BATCHES}) RETURNING id)"
            " DELETE FROM batch_items WHERE batch_id IN (SELECT id FROM doomed)"
            " RETURNING batch_id",
            (older_than, BatchStatus.RUNNING),
        )
        return len({row["batch_id"] for row in rows})

    async def close(self) -> None:
        await self._listener.close()
        await self._pool.close()
