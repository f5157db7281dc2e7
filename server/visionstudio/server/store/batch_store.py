"""The batches table's SQL and operations, written once for SQLite and PostgreSQL.

A mixin of the SQL job store: it needs only `_fetch` and `_execute` (``?`` placeholders).
"""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from visionstudio.server.store.batch_records import (
    BatchItemRecord,
    BatchPage,
    BatchRecord,
    BatchStatus,
    ItemStatus,
)
from visionstudio.server.store.paging import check_page_size, decode_page_token, encode_page_token
from visionstudio.server.store.sql import Row

BATCH_COLUMNS = "id, caller, item_count, status, idempotency_key, created_at, updated_at"
ITEM_COLUMNS = "batch_id, position, item_id, status, job_id, error"
# The unique (caller, idempotency_key) makes a racing repeat insert nothing; it then reads the
# holder back. (NULL keys are distinct, so batches without a key never collide.)
INSERT_BATCH = (
    f"INSERT INTO batches ({BATCH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
INSERT_ITEM = f"INSERT INTO batch_items ({ITEM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
SELECT_BATCH = f"SELECT {BATCH_COLUMNS} FROM batches WHERE id = ?"
SELECT_BATCH_KEY = f"SELECT {BATCH_COLUMNS} FROM batches WHERE caller = ? AND idempotency_key = ?"
SELECT_ITEMS = f"SELECT {ITEM_COLUMNS} FROM batch_items WHERE batch_id = ? ORDER BY position"
UPDATE_ITEM = (
    "UPDATE batch_items SET status = ?, job_id = COALESCE(?, job_id), error = ?"
    " WHERE batch_id = ? AND position = ?"
)
# An ended batch keeps its status (a cancel that loses the race to the end changes nothing).
FINISH_BATCH = "UPDATE batches SET status = ?, updated_at = ? WHERE id = ? AND status = ?"


def _batch(row: Row) -> BatchRecord:
    values = {f.name: row[f.name] for f in fields(BatchRecord)}
    return BatchRecord(**(values | {"status": BatchStatus(values["status"])}))


def _item(row: Row) -> BatchItemRecord:
    values = {f.name: row[f.name] for f in fields(BatchItemRecord)}
    return BatchItemRecord(**(values | {"status": ItemStatus(values["status"])}))


class SqlBatchStore(abc.ABC):
    @abc.abstractmethod
    async def _fetch(self, statement: str, args: Sequence[Any]) -> Sequence[Row]: ...

    @abc.abstractmethod
    async def _execute(self, statement: str, args: Sequence[Any]) -> None: ...

    async def create_batch(
        self, batch: BatchRecord, item_ids: Sequence[str]
    ) -> tuple[BatchRecord, bool]:
        now = time.time()
        values = (batch.id, batch.caller, batch.item_count, batch.status, batch.idempotency_key)
        await self._execute(INSERT_BATCH, (*values, now, now))
        stored = await self.get_batch(batch.id)
        if stored is None:
            # The key is held: the batch that holds it is the answer.
            rows = await self._fetch(SELECT_BATCH_KEY, (batch.caller, batch.idempotency_key))
            return _batch(rows[0]), False
        for position, item_id in enumerate(item_ids):
            await self._execute(
                INSERT_ITEM, (batch.id, position, item_id, ItemStatus.PENDING, None, None)
            )
        return stored, True

    async def get_batch(self, batch_id: str) -> BatchRecord | None:
        rows = await self._fetch(SELECT_BATCH, (batch_id,))
        return _batch(rows[0]) if rows else None

    async def list_batch_items(self, batch_id: str) -> list[BatchItemRecord]:
        return [_item(row) for row in await self._fetch(SELECT_ITEMS, (batch_id,))]

    async def update_batch_item(
        self,
        batch_id: str,
        position: int,
        status: ItemStatus,
        *,
        job_id: str | None = None,
        error: str | None = None,
    ) -> None:
        await self._execute(UPDATE_ITEM, (status, job_id, error, batch_id, position))

    async def finish_batch(self, batch_id: str, status: BatchStatus) -> None:
        args = (status, time.time(), batch_id, BatchStatus.RUNNING)
        await self._execute(FINISH_BATCH, args)

    async def list_batches(
        self, caller: str, *, page_size: int = 50, page_token: str | None = None
    ) -> BatchPage:
        check_page_size(page_size)
        where = "caller = ?"
        args: list[Any] = [caller]
        if page_token is not None:
            where += " AND (created_at, id) < (?, ?)"
            args.extend(decode_page_token(page_token))
        rows = await self._fetch(
            f"SELECT {BATCH_COLUMNS} FROM batches WHERE {where}"
            " ORDER BY created_at DESC, id DESC LIMIT ?",
            (*args, page_size + 1),
        )
        batches = [_batch(row) for row in rows[:page_size]]
        more = len(rows) > page_size
        token = encode_page_token(batches[-1].created_at, batches[-1].id) if more else None
        return BatchPage(batches=batches, next_page_token=token)
