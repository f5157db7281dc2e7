"""What a job store on SQL does the same way on SQLite and PostgreSQL.

A backend supplies how to run a statement (`_fetch`, `_execute`) and the operations whose
concurrency it handles its own way: create_job (idempotency keys), add_image, purge.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar

from visionstudio.server.spec import Usage
from visionstudio.server.store import sql
from visionstudio.server.store.batch_store import SqlBatchStore
from visionstudio.server.store.changes import ChangeSignals
from visionstudio.server.store.leases import JOB_LEASES
from visionstudio.server.store.paging import check_page_size, decode_page_token, page_of
from visionstudio.server.store.records import (
    ImageRecord,
    JobPage,
    JobRecord,
    JobStatus,
    UsageTotals,
)


class SqlJobStore(SqlBatchStore):
    dialect: ClassVar[sql.Dialect]
    # True when changes made by other processes wake watchers too (see store.changes).
    notifies: ClassVar[bool] = False
    signals: ChangeSignals

    def changes(self, job_id: str) -> AbstractAsyncContextManager[asyncio.Event]:
        return self.signals.changes(job_id)

    async def _changed(self, job_id: str) -> None:
        """Tells the job's watchers it changed (a backend may also tell other processes)."""
        self.signals.notify(job_id)

    @abc.abstractmethod
    async def _fetch(self, statement: str, args: Sequence[Any]) -> Sequence[sql.Row]:
        """The rows `statement` answers; it has ``?`` placeholders."""

    @abc.abstractmethod
    async def _execute(self, statement: str, args: Sequence[Any]) -> None:
        """Runs one write in a transaction of its own."""

    async def _fetch_one(self, statement: str, args: Sequence[Any]) -> sql.Row | None:
        rows = await self._fetch(statement, args)
        return rows[0] if rows else None

    async def finish_job(
        self,
        job_id: str,
        status: JobStatus,
        usage: Usage,
        error: str | None = None,
        *,
        release_key: bool = False,
    ) -> None:
        running = JobStatus.RUNNING
        args = (running, status, running, error, sql.usage_json(usage), time.time())
        await self._execute(sql.FINISH_JOB, (*args, release_key, job_id))
        await self._changed(job_id)

    async def cancel_job(self, job_id: str, reason: str) -> None:
        args = (JobStatus.CANCELLED, reason, time.time(), job_id, JobStatus.RUNNING)
        await self._execute(sql.CANCEL_JOB, args)
        await self._changed(job_id)

    async def claim_expired(self, owner: str, lease_s: float, limit: int) -> list[JobRecord]:
        claimed = []
        for job_id in await self._claim(JOB_LEASES, owner, lease_s, limit):
            job = await self.get_job(job_id)
            if job is not None and job.lease_owner == owner and job.status is JobStatus.RUNNING:
                claimed.append(job)
        return claimed

    async def renew_lease(self, job_id: str, owner: str, lease_s: float) -> None:
        await self._renew(JOB_LEASES, job_id, owner, lease_s)

    async def release_lease(self, job_id: str, owner: str) -> None:
        await self._release(JOB_LEASES, job_id, owner)

    async def get_job(self, job_id: str) -> JobRecord | None:
        row = await self._fetch_one(sql.SELECT_JOB, (job_id,))
        return sql.job_from_row(row) if row is not None else None

    async def get_image(self, image_id: str) -> ImageRecord | None:
        row = await self._fetch_one(f"{sql.SELECT_IMAGES} WHERE images.id = ?", (image_id,))
        return sql.image_from_row(row) if row is not None else None

    async def list_images(self, job_id: str) -> list[ImageRecord]:
        rows = await self._fetch(
            f"{sql.SELECT_IMAGES} WHERE images.job_id = ? ORDER BY {self.dialect.image_order}",
            (job_id,),
        )
        return [sql.image_from_row(row) for row in rows]

    async def list_jobs(
        self,
        caller: str,
        *,
        status: JobStatus | None = None,
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
        rows = await self._fetch(
            f"SELECT {sql.JOB_COLUMNS} FROM jobs WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC, id DESC LIMIT ?",
            (*args, page_size + 1),
        )
        return page_of([sql.job_from_row(row) for row in rows], page_size)

    async def usage(
        self, caller: str, *, since: float | None = None, until: float | None = None
    ) -> UsageTotals:
        row = await self._fetch_one(*sql.usage_query(self.dialect, caller, since, until))
        assert row is not None  # an aggregate always answers one row
        return sql.usage_totals(row)
