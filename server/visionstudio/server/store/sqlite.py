"""Job records in SQLite, the zero-set-up default in the data directory."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from visionstudio.server.store import sql
from visionstudio.server.store.batch_records import BatchStatus
from visionstudio.server.store.batch_store import INSERT_BATCH, INSERT_ITEM, PURGEABLE_BATCHES
from visionstudio.server.store.changes import ChangeSignals
from visionstudio.server.store.records import ImageRecord, JobRecord
from visionstudio.server.store.schema import migrations, sqlite_statements
from visionstudio.server.store.sql_store import SqlJobStore

# Also keeps the jobs.image_ids column of the first schema filled, so the file stays readable
# by the service's earlier versions.
_TOUCH_JOB = (
    "UPDATE jobs SET image_ids = json_insert(image_ids, '$[#]', ?), updated_at = ? WHERE id = ?"
)


class SqliteJobStore(SqlJobStore):
    """One connection; its writes are serialised by a lock and run as IMMEDIATE transactions,
    which also makes them atomic against another process using the same file."""

    dialect = sql.SQLITE

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._write_lock = asyncio.Lock()
        self.signals = ChangeSignals()

    @classmethod
    async def open(cls, path: Path) -> SqliteJobStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE), never implicit.
        db = await aiosqlite.connect(path, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            # WAL lets the HTTP image route read while streams write.
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA foreign_keys=ON")
            store = cls(db)
            await store._migrate()
        except BaseException:
            await db.close()
            raise
        return store

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            # aiosqlite runs each statement in its own thread whether or not the caller is
            # cancelled meanwhile: a BEGIN the caller stopped waiting for still opens the
            # transaction, so it is waited for and rolled back before the lock is given back
            # (else the next writer fails "cannot start a transaction within a transaction").
            begin = asyncio.ensure_future(self._db.execute("BEGIN IMMEDIATE"))
            try:
                await asyncio.shield(begin)
                yield self._db
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # a BEGIN that failed opened nothing
                    await asyncio.shield(begin)
                    await asyncio.shield(self._db.execute("ROLLBACK"))
                raise
            await asyncio.shield(self._db.execute("COMMIT"))

    async def _fetch(self, statement: str, args: Sequence[Any]) -> Sequence[sql.Row]:
        async with self._db.execute(statement, args) as cur:
            return list(await cur.fetchall())

    async def _execute(self, statement: str, args: Sequence[Any]) -> None:
        async with self._transaction() as db:
            await db.execute(statement, args)

    async def _migrate(self) -> None:
        await self._db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        for migration in migrations("sqlite"):
            # Checked inside the write transaction: another process may have just applied it.
            async with self._transaction() as db:
                async with db.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
                ) as cur:
                    if await cur.fetchone() is not None:
                        continue
                for statement in sqlite_statements(migration.sql):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, time.time()),
                )

    async def create_job(
        self, job: JobRecord, *, idempotency_window_s: float = 86400
    ) -> tuple[JobRecord, bool]:
        now = time.time()
        job.created_at = job.updated_at = job.created_at or now
        # The IMMEDIATE transaction holds the write lock from the check to the insert.
        async with self._transaction() as db:
            if job.idempotency_key is not None:
                async with db.execute(
                    sql.SELECT_KEY_HOLDER, (job.caller, job.idempotency_key)
                ) as cur:
                    row = await cur.fetchone()
                if row is not None:
                    holder = sql.job_from_row(row)
                    if holder.created_at >= now - idempotency_window_s:
                        return holder, False
                    await db.execute(sql.RELEASE_KEY, (holder.id,))
            await db.execute(sql.INSERT_JOB, sql.job_values(job))
        return job, True

    async def add_image(self, image: ImageRecord) -> None:
        now = time.time()
        async with self._transaction() as db:
            await db.execute(sql.INSERT_IMAGE, sql.image_values(image, now))
            await db.execute(_TOUCH_JOB, (image.id, now, image.job_id))
        await self._changed(image.job_id)

    async def purge(self, older_than: float) -> list[str]:
        doomed = f"SELECT id FROM jobs WHERE {sql.PURGEABLE}"
        args = sql.purgeable_args(older_than)
        async with self._transaction() as db:
            async with db.execute(
                f"SELECT blob_key FROM images WHERE job_id IN ({doomed})", args
            ) as cur:
                keys = [row[0] for row in await cur.fetchall()]
            await db.execute(f"DELETE FROM images WHERE job_id IN ({doomed})", args)
            await db.execute(f"DELETE FROM jobs WHERE id IN ({doomed})", args)
        return keys

    async def _insert_batch(self, batch: Sequence[Any], items: Sequence[Sequence[Any]]) -> bool:
        async with self._transaction() as db:
            async with db.execute(INSERT_BATCH, batch) as cur:
                if cur.rowcount == 0:
                    return False
            await db.executemany(INSERT_ITEM, items)
        return True

    async def purge_batches(self, older_than: float) -> int:
        args = (older_than, BatchStatus.RUNNING)
        async with self._transaction() as db:
            await db.execute(
                f"DELETE FROM batch_items WHERE batch_id IN ({PURGEABLE_BATCHES})", args
            )
            async with db.execute(
                f"DELETE FROM batches WHERE id IN ({PURGEABLE_BATCHES})", args
            ) as cur:
                return cur.rowcount

    async def close(self) -> None:
        await self._db.close()
