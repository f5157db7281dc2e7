"""Job records in PostgreSQL (asyncpg), shared by every replica of the service."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

import asyncpg
from visionstudio.server.jobs.spec import Usage
from visionstudio.server.store.jobs import (
    USAGE_FIELDS,
    ImageRecord,
    JobPage,
    JobRecord,
    UsageTotals,
    check_page_size,
    decode_page_token,
    page_of,
)
from visionstudio.server.store.schema import migrations

# pg_advisory_lock key held while migrating, so replicas starting together take turns.
_MIGRATION_LOCK = 0x76_69_73_69_6F_6E  # "vision"

# image_ids are derived from the images table (one source of truth, no hot job row per image).
_JOB_COLUMNS = (
    "id, rpc, caller, model, params, status, usage, error, created_at, updated_at,"
    " idempotency_key, request_hash, number_of_images,"
    " ARRAY(SELECT images.id FROM images WHERE images.job_id = jobs.id ORDER BY images.seq)"
    " AS image_ids"
)
_IMAGE_COLUMNS = (
    "images.id, images.job_id, images.idx, images.blob_key, images.mime_type, images.width,"
    " images.height, images.size_bytes, jobs.caller, images.created_at"
)


def _job(row: asyncpg.Record) -> JobRecord:
    return JobRecord(
        id=row["id"],
        rpc=row["rpc"],
        caller=row["caller"],
        model=row["model"],
        params=row["params"],
        status=row["status"],
        image_ids=list(row["image_ids"]),
        usage=Usage(**row["usage"]) if row["usage"] is not None else None,
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        idempotency_key=row["idempotency_key"],
        request_hash=row["request_hash"],
        number_of_images=row["number_of_images"],
    )


def _image(row: asyncpg.Record) -> ImageRecord:
    return ImageRecord(*row)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns come and go as Python dicts.
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=json.dumps, decoder=json.loads, format="text"
    )


class PostgresJobStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> PostgresJobStore:
        """Connects a pool to `dsn` (postgresql://user:pass@host:port/db) and migrates."""
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, init=_init_connection
        )
        try:
            await cls._migrate(pool)
        except BaseException:
            await pool.close()
            raise
        return cls(pool)

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

    async def create_job(
        self, job: JobRecord, *, idempotency_window_s: float = 86400
    ) -> tuple[JobRecord, bool]:
        now = time.time()
        job.created_at = job.updated_at = job.created_at or now
        values = (
            job.id,
            job.rpc,
            job.caller,
            job.model,
            job.params,
            job.status,
            job.created_at,
            job.updated_at,
            job.idempotency_key,
            job.request_hash,
            job.number_of_images,
        )
        insert = (
            "INSERT INTO jobs (id, rpc, caller, model, params, status, created_at, updated_at,"
            " idempotency_key, request_hash, number_of_images)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        )
        async with self._pool.acquire() as conn:
            # The unique (caller, idempotency_key) constraint arbitrates between replicas: an
            # insert racing another with the same key waits for it, then does nothing. A loop,
            # because the holder we then read may give the key up before we lock it.
            while True:
                async with conn.transaction():
                    inserted = await conn.fetchval(
                        f"{insert} ON CONFLICT (caller, idempotency_key) DO NOTHING RETURNING 1",
                        *values,
                    )
                    if inserted:
                        return job, True
                    row = await conn.fetchrow(
                        f"SELECT {_JOB_COLUMNS} FROM jobs"
                        " WHERE caller = $1 AND idempotency_key = $2 FOR UPDATE",
                        job.caller,
                        job.idempotency_key,
                    )
                    if row is None:
                        continue
                    holder = _job(row)
                    if holder.created_at >= now - idempotency_window_s:
                        return holder, False
                    # Expired: the holder gives the key up, in the same transaction as our insert.
                    await conn.execute(
                        "UPDATE jobs SET idempotency_key = NULL WHERE id = $1", holder.id
                    )
                    await conn.execute(insert, *values)
                    return job, True

    async def add_image(self, image: ImageRecord) -> None:
        now = time.time()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO images (id, job_id, idx, blob_key, mime_type, width, height,"
                " size_bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                image.id,
                image.job_id,
                image.index,
                image.blob_key,
                image.mime_type,
                image.width,
                image.height,
                image.size_bytes,
                now,
            )
            await conn.execute("UPDATE jobs SET updated_at = $1 WHERE id = $2", now, image.job_id)

    async def finish_job(
        self,
        job_id: str,
        status: str,
        usage: Usage,
        error: str | None = None,
        *,
        release_key: bool = False,
    ) -> None:
        await self._pool.execute(
            "UPDATE jobs SET status = $1, usage = $2, error = $3, updated_at = $4,"
            " idempotency_key = CASE WHEN $5 THEN NULL ELSE idempotency_key END WHERE id = $6",
            status,
            asdict(usage),
            error,
            time.time(),
            release_key,
            job_id,
        )

    async def get_job(self, job_id: str) -> JobRecord | None:
        row = await self._pool.fetchrow(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = $1", job_id)
        return _job(row) if row is not None else None

    async def get_image(self, image_id: str) -> ImageRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT {_IMAGE_COLUMNS} FROM images JOIN jobs ON jobs.id = images.job_id"
            " WHERE images.id = $1",
            image_id,
        )
        return _image(row) if row is not None else None

    async def list_images(self, job_id: str) -> list[ImageRecord]:
        rows = await self._pool.fetch(
            f"SELECT {_IMAGE_COLUMNS} FROM images JOIN jobs ON jobs.id = images.job_id"
            " WHERE images.job_id = $1 ORDER BY images.seq",
            job_id,
        )
        return [_image(row) for row in rows]

    async def list_jobs(
        self,
        caller: str,
        *,
        status: str | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> JobPage:
        check_page_size(page_size)
        args: list[Any] = [caller]
        where = ["caller = $1"]

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if status is not None:
            where.append(f"status = {arg(status)}")
        if created_after is not None:
            where.append(f"created_at >= {arg(created_after)}")
        if created_before is not None:
            where.append(f"created_at < {arg(created_before)}")
        if page_token is not None:
            created_at, job_id = decode_page_token(page_token)
            where.append(f"(created_at, id) < ({arg(created_at)}, {arg(job_id)})")
        rows = await self._pool.fetch(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {' AND '.join(where)}"
            f" ORDER BY created_at DESC, id DESC LIMIT {arg(page_size + 1)}",
            *args,
        )
        return page_of([_job(row) for row in rows], page_size)

    async def usage(
        self, caller: str, *, since: float | None = None, until: float | None = None
    ) -> UsageTotals:
        sums = ", ".join(
            f"COALESCE(SUM((usage ->> ${i})::bigint), 0)::bigint"
            for i in range(4, 4 + len(USAGE_FIELDS))
        )
        # Open bounds are infinities, so one statement serves every combination. (SUM of bigint
        # is numeric; the casts bring the totals back as ints.)
        row = await self._pool.fetchrow(
            "SELECT COUNT(*), COALESCE(SUM("
            " (SELECT COUNT(*) FROM images WHERE images.job_id = jobs.id)), 0)::bigint,"
            f" {sums} FROM jobs WHERE caller = $1 AND created_at >= $2 AND created_at < $3",
            caller,
            since if since is not None else float("-inf"),
            until if until is not None else float("inf"),
            *USAGE_FIELDS,
        )
        assert row is not None  # an aggregate always answers one row
        jobs, images, *tokens = row
        return UsageTotals(
            jobs=jobs, images=images, usage=Usage(**dict(zip(USAGE_FIELDS, tokens, strict=True)))
        )

    async def purge(self, older_than: float) -> list[str]:
        # One statement: the jobs and their images go together, and a job that finishes while
        # we purge is either wholly in (keys returned) or wholly out.
        rows = await self._pool.fetch(
            "WITH doomed AS ("
            " DELETE FROM jobs WHERE created_at < $1 AND status <> 'running' RETURNING id)"
            " DELETE FROM images WHERE job_id IN (SELECT id FROM doomed) RETURNING blob_key",
            older_than,
        )
        return [row["blob_key"] for row in rows]

    async def close(self) -> None:
        await self._pool.close()
