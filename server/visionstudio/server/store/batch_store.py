"""The batches table's SQL and operations, written once for SQLite and PostgreSQL.

A mixin of the SQL job store: it needs `_fetch`, `_execute` (``?`` placeholders), `_changed`,
and from each backend the two writes that take a transaction of several statements
(`_insert_batch`, `purge_batches`).
"""

from __future__ import annotations

import abc
import json
import time
from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

from visionstudio.server.store.batch_records import (
    BatchItemRecord,
    BatchPage,
    BatchRecord,
    BatchStatus,
    ItemRequest,
    ItemStatus,
)
from visionstudio.server.store.leases import BATCH_LEASES, SqlLeases
from visionstudio.server.store.paging import check_page_size, decode_page_token, encode_page_token
from visionstudio.server.store.sql import Row

BATCH_COLUMNS = (
    "id, caller, item_count, status, idempotency_key, created_at, updated_at, items_digest,"
    " lease_owner, lease_until"
)
ITEM_COLUMNS = "batch_id, position, item_id, status, job_id, error"
# The unique (caller, idempotency_key) makes a racing repeat insert nothing; it then reads the
# holder back. (NULL keys are distinct, so batches without a key never collide.)
INSERT_BATCH = (
    f"INSERT INTO batches ({BATCH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
INSERT_ITEM = (
    f"INSERT INTO batch_items ({ITEM_COLUMNS}, rpc, params) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT_BATCH = f"SELECT {BATCH_COLUMNS} FROM batches WHERE id = ?"
SELECT_BATCH_KEY = f"SELECT {BATCH_COLUMNS} FROM batches WHERE caller = ? AND idempotency_key = ?"
SELECT_ITEMS = f"SELECT {ITEM_COLUMNS} FROM batch_items WHERE batch_id = ? ORDER BY position"
SELECT_REQUEST = "SELECT item_id, rpc, params FROM batch_items WHERE batch_id = ? AND position = ?"
UPDATE_ITEM = (
    "UPDATE batch_items SET status = ?, job_id = COALESCE(?, job_id), error = ?"
    " WHERE batch_id = ? AND position = ?"
)
CANCEL_PENDING = "UPDATE batch_items SET status = ?, error = ? WHERE batch_id = ? AND status = ?"
# An ended batch keeps its status (a cancel that loses the race to the end changes nothing).
FINISH_BATCH = "UPDATE batches SET status = ?, updated_at = ? WHERE id = ? AND status = ?"
# The batches `purge_batches` deletes (with their items); bound as (older_than, RUNNING).
PURGEABLE_BATCHES = "SELECT id FROM batches WHERE created_at < ? AND status <> ?"


def _batch(row: Row) -> BatchRecord:
    values = {f.name: row[f.name] for f in fields(BatchRecord)}
    return BatchRecord(**(values | {"status": BatchStatus(values["status"])}))


def _item(row: Row) -> BatchItemRecord:
    values = {f.name: row[f.name] for f in fields(BatchItemRecord)}
    return BatchItemRecord(**(values | {"status": ItemStatus(values["status"])}))


class SqlBatchStore(SqlLeases):
    @abc.abstractmethod
    async def _changed(self, key: str) -> None:
        """Wakes the watchers of `key` (a job's or a batch's id)."""

    @abc.abstractmethod
    async def _insert_batch(self, batch: Sequence[Any], items: Sequence[Sequence[Any]]) -> bool:
        """Inserts the batch row (INSERT_BATCH) and, when it was inserted, its items
        (INSERT_ITEM), in one transaction; False when the batch's key was already held."""

    @abc.abstractmethod
    async def purge_batches(self, older_than: float) -> int:
        """Deletes the ended batches created before `older_than` and their items."""

    async def create_batch(
        self, batch: BatchRecord, items: Sequence[ItemRequest]
    ) -> tuple[BatchRecord, bool]:
        now = time.time()
        dated = replace(batch, created_at=now, updated_at=now)
        values = [getattr(dated, column) for column in BATCH_COLUMNS.split(", ")]
        rows = [
            (batch.id, position, item.item_id, ItemStatus.PENDING, None, None, *item.as_row())
            for position, item in enumerate(items)
        ]
        if await self._insert_batch(values, rows):
            stored = await self.get_batch(batch.id)
            assert stored is not None  # inserted just now
            return stored, True
        # The key is held: the batch that holds it is the answer.
        held = await self._fetch(SELECT_BATCH_KEY, (batch.caller, batch.idempotency_key))
        return _batch(held[0]), False

    async def get_batch(self, batch_id: str) -> BatchRecord | None:
        rows = await self._fetch(SELECT_BATCH, (batch_id,))
        return _batch(rows[0]) if rows else None

    async def list_batch_items(self, batch_id: str) -> list[BatchItemRecord]:
        return [_item(row) for row in await self._fetch(SELECT_ITEMS, (batch_id,))]

    async def get_item_request(self, batch_id: str, position: int) -> ItemRequest | None:
        rows = await self._fetch(SELECT_REQUEST, (batch_id, position))
        if not rows or rows[0]["params"] is None:
            # Unknown, or stored before batches kept their items' requests.
            return None
        row = rows[0]
        return ItemRequest(row["item_id"], row["rpc"], json.loads(row["params"]))

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
        await self._changed(batch_id)

    async def cancel_pending_items(self, batch_id: str, error: str) -> None:
        args = (ItemStatus.CANCELLED, error, batch_id, ItemStatus.PENDING)
        await self._execute(CANCEL_PENDING, args)
        await self._changed(batch_id)

    async def finish_batch(self, batch_id: str, status: BatchStatus) -> None:
        args = (status, time.time(), batch_id, BatchStatus.RUNNING)
        await self._execute(FINISH_BATCH, args)
        await self._changed(batch_id)

    async def claim_expired_batches(
        self, owner: str, lease_s: float, limit: int
    ) -> list[BatchRecord]:
        claimed = []
        for batch_id in await self._claim(BATCH_LEASES, owner, lease_s, limit):
            batch = await self.get_batch(batch_id)
            running = batch is not None and batch.status is BatchStatus.RUNNING
            if batch is not None and running and batch.lease_owner == owner:
                claimed.append(batch)
        return claimed

    async def renew_batch_lease(self, batch_id: str, owner: str, lease_s: float) -> None:
        await self._renew(BATCH_LEASES, batch_id, owner, lease_s)

    async def release_batch_lease(self, batch_id: str, owner: str) -> None:
        await self._release(BATCH_LEASES, batch_id, owner)

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
