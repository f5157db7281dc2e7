"""Schema migrations: databases from before them are adopted; replicas migrate once."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
from visionstudio.server.spec import Usage
from visionstudio.server.store import PostgresJobStore, SqliteJobStore
from visionstudio.server.store.schema import migrations

from tests.support.store_services import PostgresServer, postgres_server  # noqa: F401

# The schema databases had before versioned migrations; they must open and keep their jobs.
LEGACY_SCHEMA = """
CREATE TABLE jobs (id TEXT PRIMARY KEY, rpc TEXT NOT NULL, caller TEXT NOT NULL,
    model TEXT NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL,
    image_ids TEXT NOT NULL DEFAULT '[]', usage TEXT, error TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE images (id TEXT PRIMARY KEY, job_id TEXT NOT NULL REFERENCES jobs(id),
    idx INTEGER NOT NULL, blob_key TEXT NOT NULL, mime_type TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, size_bytes INTEGER NOT NULL,
    created_at REAL NOT NULL);
CREATE INDEX images_job ON images(job_id);
INSERT INTO jobs VALUES ('old', 'generate', 'key-a', 'm', '{"prompt": "x"}', 'succeeded',
    '["img"]', '{"total_tokens": 5}', NULL, 1.0, 2.0);
INSERT INTO images VALUES ('img', 'old', 0, 'images/img.png', 'image/png', 8, 8, 10, 1.5);
"""


async def test_sqlite_adopts_a_database_from_before_migrations(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(LEGACY_SCHEMA)
    store = await SqliteJobStore.open(path)
    try:
        job = await store.get_job("old")
        assert job is not None and job.usage == Usage(total_tokens=5)
        assert (job.idempotency_key, job.number_of_images) == (None, 1)
        assert [i.id for i in await store.list_images("old")] == ["img"]
        image = await store.get_image("img")
        assert image is not None and image.caller == "key-a"
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        versions = [row[0] for row in db.execute("SELECT version FROM schema_migrations")]
    assert versions == [m.version for m in migrations("sqlite")]


async def test_postgres_replicas_starting_together_migrate_once(
    postgres_server: PostgresServer,  # noqa: F811
) -> None:
    url = await postgres_server.create_database()
    stores = await asyncio.gather(*(PostgresJobStore.open(url) for _ in range(3)))
    try:
        conn = await asyncpg.connect(url)
        try:
            versions = [
                r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")
            ]
        finally:
            await conn.close()
        assert versions == [m.version for m in migrations("postgres")]
    finally:
        for store in stores:
            await store.close()
