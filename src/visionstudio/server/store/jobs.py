"""Job and image records. SQLite in the data directory is the zero-set-up default."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from visionstudio.server.spec import Usage

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id          TEXT PRIMARY KEY,
    rpc         TEXT NOT NULL,
    caller      TEXT NOT NULL,
    model       TEXT NOT NULL,
    params      TEXT NOT NULL,
    status      TEXT NOT NULL,
    image_ids   TEXT NOT NULL DEFAULT '[]',
    usage       TEXT,
    error       TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    id          TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs(id),
    idx         INTEGER NOT NULL,
    blob_key    TEXT NOT NULL,
    mime_type   TEXT NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    size_bytes  INTEGER NOT NULL,
    created_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS images_job ON images(job_id);
"""


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
    created_at: float = 0.0
    updated_at: float = 0.0


class JobStore(Protocol):
    async def create_job(self, job: JobRecord) -> None: ...

    async def add_image(self, image: ImageRecord) -> None: ...

    async def finish_job(
        self, job_id: str, status: str, usage: Usage, error: str | None = None
    ) -> None: ...

    async def get_job(self, job_id: str) -> JobRecord | None: ...

    async def get_image(self, image_id: str) -> ImageRecord | None: ...

    async def close(self) -> None: ...


class SqliteJobStore:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> SqliteJobStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        # WAL lets the HTTP image route read while streams write.
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.executescript(SCHEMA)
        await db.commit()
        return cls(db)

    async def create_job(self, job: JobRecord) -> None:
        now = time.time()
        job.created_at = job.updated_at = now
        await self._db.execute(
            "INSERT INTO jobs (id, rpc, caller, model, params, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (job.id, job.rpc, job.caller, job.model, json.dumps(job.params), job.status, now, now),
        )
        await self._db.commit()

    async def add_image(self, image: ImageRecord) -> None:
        now = time.time()
        await self._db.execute(
            "INSERT INTO images (id, job_id, idx, blob_key, mime_type, width, height, size_bytes,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        await self._db.execute(
            "UPDATE jobs SET image_ids = json_insert(image_ids, '$[#]', ?), updated_at = ?"
            " WHERE id = ?",
            (image.id, now, image.job_id),
        )
        await self._db.commit()

    async def finish_job(
        self, job_id: str, status: str, usage: Usage, error: str | None = None
    ) -> None:
        await self._db.execute(
            "UPDATE jobs SET status = ?, usage = ?, error = ?, updated_at = ? WHERE id = ?",
            (status, json.dumps(asdict(usage)), error, time.time(), job_id),
        )
        await self._db.commit()

    async def get_job(self, job_id: str) -> JobRecord | None:
        async with self._db.execute(
            "SELECT id, rpc, caller, model, params, status, image_ids, usage, error, created_at,"
            " updated_at FROM jobs WHERE id = ?",
            (job_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return JobRecord(
            id=row[0],
            rpc=row[1],
            caller=row[2],
            model=row[3],
            params=json.loads(row[4]),
            status=row[5],
            image_ids=json.loads(row[6]),
            usage=Usage(**json.loads(row[7])) if row[7] else None,
            error=row[8],
            created_at=row[9],
            updated_at=row[10],
        )

    async def get_image(self, image_id: str) -> ImageRecord | None:
        async with self._db.execute(
            "SELECT images.id, job_id, idx, blob_key, mime_type, width, height, size_bytes,"
            " jobs.caller FROM images JOIN jobs ON jobs.id = images.job_id WHERE images.id = ?",
            (image_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return ImageRecord(*row)

    async def close(self) -> None:
        await self._db.close()
