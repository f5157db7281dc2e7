"""Job and image records. SQLite in the data directory is the zero-set-up default."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
from visionstudio.server.jobs.spec import Usage
from visionstudio.server.store.schema import migrations, sqlite_statements

# The token counts summed by `usage`, one per Usage field.
USAGE_FIELDS = tuple(f.name for f in fields(Usage))
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class ImageRecord:
    id: str
    job_id: str
    index: int
    blob_key: str
    mime_type: str
    width: int
    height: int
    size_bytes: int
    # The key id of the job's caller (filled when read back).
    caller: str | None = None
    # Unix time it was stored (filled when read back).
    created_at: float = 0.0


@dataclass
class JobRecord:
    id: str
    rpc: str
    caller: str
    model: str
    params: dict[str, Any]
    status: str = "running"
    image_ids: list[str] = field(default_factory=list)
    usage: Usage | None = None
    error: str | None = None
    # Unix time; 0 means "now" (create_job stamps it).
    created_at: float = 0.0
    updated_at: float = 0.0
    idempotency_key: str | None = None
    # A hash of the canonical parameters, to detect a key reused with other parameters.
    request_hash: str | None = None
    number_of_images: int = 1


@dataclass(frozen=True)
class JobPage:
    jobs: list[JobRecord]
    # None on the last page.
    next_page_token: str | None


@dataclass(frozen=True)
class UsageTotals:
    jobs: int
    images: int
    usage: Usage


class JobStore(Protocol):
    async def create_job(
        self, job: JobRecord, *, idempotency_window_s: float = 86400
    ) -> tuple[JobRecord, bool]:
        """Inserts `job` and returns (job, True).

        When job.idempotency_key is set and the same caller already has a job with that key
        created within the window, inserts nothing and returns (that job, False), atomically,
        also across replicas sharing a database. An expired holder of the key gives it up.
        """
        ...

    async def add_image(self, image: ImageRecord) -> None: ...

    async def finish_job(
        self,
        job_id: str,
        status: str,
        usage: Usage,
        error: str | None = None,
        *,
        release_key: bool = False,
    ) -> None:
        """Records the end of a job; `release_key` frees its idempotency key (for a request
        refused before any work, so a repeat is judged afresh)."""
        ...

    async def get_job(self, job_id: str) -> JobRecord | None: ...

    async def get_image(self, image_id: str) -> ImageRecord | None:
        """The image, with `caller` filled from its job."""
        ...

    async def list_images(self, job_id: str) -> list[ImageRecord]:
        """The job's images in the order they were stored."""
        ...

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
        """The caller's jobs, newest first; created_after <= created_at < created_before.

        The token is opaque and stable: keyset pagination on (created_at, id), so jobs created
        while paging neither shift nor repeat the pages. Raises ValueError for a bad token.
        """
        ...

    async def usage(
        self, caller: str, *, since: float | None = None, until: float | None = None
    ) -> UsageTotals:
        """The caller's jobs created in since <= created_at < until, their images and tokens."""
        ...

    async def purge(self, older_than: float) -> list[str]:
        """Deletes the jobs created before `older_than` (unix time) that are not running, and
        their image records; returns the deleted images' blob keys."""
        ...

    async def close(self) -> None: ...


def encode_page_token(created_at: float, job_id: str) -> str:
    # JSON keeps the float exact (shortest repr round-trips), so the keyset compares equal.
    raw = json.dumps([created_at, job_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created_at, job_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError("invalid page token") from exc
    if not isinstance(created_at, int | float) or not isinstance(job_id, str):
        raise ValueError("invalid page token")
    return float(created_at), job_id


def check_page_size(page_size: int) -> None:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be within 1..{MAX_PAGE_SIZE}")


def page_of(rows: Sequence[JobRecord], page_size: int) -> JobPage:
    """`rows` holds up to page_size + 1 jobs: the extra one only says another page exists."""
    jobs = list(rows[:page_size])
    more = len(rows) > page_size
    token = encode_page_token(jobs[-1].created_at, jobs[-1].id) if more else None
    return JobPage(jobs=jobs, next_page_token=token)


_JOB_COLUMNS = (
    "id, rpc, caller, model, params, status, image_ids, usage, error, created_at, updated_at,"
    " idempotency_key, request_hash, number_of_images"
)
_IMAGE_COLUMNS = (
    "images.id, images.job_id, images.idx, images.blob_key, images.mime_type, images.width,"
    " images.height, images.size_bytes, jobs.caller, images.created_at"
)


def _job(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        rpc=row["rpc"],
        caller=row["caller"],
        model=row["model"],
        params=json.loads(row["params"]),
        status=row["status"],
        image_ids=json.loads(row["image_ids"]),
        usage=Usage(**json.loads(row["usage"])) if row["usage"] else None,
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        idempotency_key=row["idempotency_key"],
        request_hash=row["request_hash"],
        number_of_images=row["number_of_images"],
    )


class SqliteJobStore:
    """One connection; its writes are serialised by a lock and run as IMMEDIATE transactions,
    which also makes them atomic against another process using the same file."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._write_lock = asyncio.Lock()

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
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

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
        async with self._transaction() as db:
            if job.idempotency_key is not None:
                async with db.execute(
                    f"SELECT {_JOB_COLUMNS} FROM jobs WHERE caller = ? AND idempotency_key = ?",
                    (job.caller, job.idempotency_key),
                ) as cur:
                    row = await cur.fetchone()
                if row is not None:
                    holder = _job(row)
                    if holder.created_at >= now - idempotency_window_s:
                        return holder, False
                    await db.execute(
                        "UPDATE jobs SET idempotency_key = NULL WHERE id = ?", (holder.id,)
                    )
            await db.execute(
                "INSERT INTO jobs (id, rpc, caller, model, params, status, image_ids, created_at,"
                " updated_at, idempotency_key, request_hash, number_of_images)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.rpc,
                    job.caller,
                    job.model,
                    json.dumps(job.params),
                    job.status,
                    json.dumps(job.image_ids),
                    job.created_at,
                    job.updated_at,
                    job.idempotency_key,
                    job.request_hash,
                    job.number_of_images,
                ),
            )
        return job, True

    async def add_image(self, image: ImageRecord) -> None:
        now = time.time()
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO images (id, job_id, idx, blob_key, mime_type, width, height,"
                " size_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    image.id,
                    image.job_id,
                    image.index,
                    image.blob_key,
                    image.mime_type,
                    image.width,
                    image.height,
                    image.size_bytes,
                    now,
                ),
            )
            await db.execute(
                "UPDATE jobs SET image_ids = json_insert(image_ids, '$[#]', ?), updated_at = ?"
                " WHERE id = ?",
                (image.id, now, image.job_id),
            )

    async def finish_job(
        self,
        job_id: str,
        status: str,
        usage: Usage,
        error: str | None = None,
        *,
        release_key: bool = False,
    ) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE jobs SET status = ?, usage = ?, error = ?, updated_at = ?,"
                " idempotency_key = CASE WHEN ? THEN NULL ELSE idempotency_key END WHERE id = ?",
                (status, json.dumps(asdict(usage)), error, time.time(), release_key, job_id),
            )

    async def get_job(self, job_id: str) -> JobRecord | None:
        async with self._db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
        ) as cur:
            row = await cur.fetchone()
        return _job(row) if row is not None else None

    async def get_image(self, image_id: str) -> ImageRecord | None:
        async with self._db.execute(
            f"SELECT {_IMAGE_COLUMNS} FROM images JOIN jobs ON jobs.id = images.job_id"
            " WHERE images.id = ?",
            (image_id,),
        ) as cur:
            row = await cur.fetchone()
        return ImageRecord(*row) if row is not None else None

    async def list_images(self, job_id: str) -> list[ImageRecord]:
        # rowid grows with every insert, so it is the order the images were stored in.
        async with self._db.execute(
            f"SELECT {_IMAGE_COLUMNS} FROM images JOIN jobs ON jobs.id = images.job_id"
            " WHERE images.job_id = ? ORDER BY images.rowid",
            (job_id,),
        ) as cur:
            rows = await cur.fetchall()
        return [ImageRecord(*row) for row in rows]

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
        where = ["caller = ?"]
        args: list[Any] = [caller]
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if created_after is not None:
            where.append("created_at >= ?")
            args.append(created_after)
        if created_before is not None:
            where.append("created_at < ?")
            args.append(created_before)
        if page_token is not None:
            where.append("(created_at, id) < (?, ?)")
            args.extend(decode_page_token(page_token))
        async with self._db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC, id DESC LIMIT ?",
            (*args, page_size + 1),
        ) as cur:
            rows = await cur.fetchall()
        return page_of([_job(row) for row in rows], page_size)

    async def usage(
        self, caller: str, *, since: float | None = None, until: float | None = None
    ) -> UsageTotals:
        sums = ", ".join("COALESCE(SUM(json_extract(usage, ?)), 0)" for _ in USAGE_FIELDS)
        # Open bounds are infinities, so one statement serves every combination.
        async with self._db.execute(
            f"SELECT COUNT(*), COALESCE(SUM(json_array_length(image_ids)), 0), {sums}"
            " FROM jobs WHERE caller = ? AND created_at >= ? AND created_at < ?",
            (
                *(f"$.{name}" for name in USAGE_FIELDS),
                caller,
                since if since is not None else float("-inf"),
                until if until is not None else float("inf"),
            ),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None  # an aggregate always answers one row
        jobs, images, *tokens = row
        return UsageTotals(
            jobs=jobs, images=images, usage=Usage(**dict(zip(USAGE_FIELDS, tokens, strict=True)))
        )

    async def purge(self, older_than: float) -> list[str]:
        doomed = "SELECT id FROM jobs WHERE created_at < ? AND status != 'running'"
        async with self._transaction() as db:
            async with db.execute(
                f"SELECT blob_key FROM images WHERE job_id IN ({doomed})", (older_than,)
            ) as cur:
                keys = [row[0] for row in await cur.fetchall()]
            await db.execute(f"DELETE FROM images WHERE job_id IN ({doomed})", (older_than,))
            await db.execute(f"DELETE FROM jobs WHERE id IN ({doomed})", (older_than,))
        return keys

    async def close(self) -> None:
        await self._db.close()
