"""Leases on running rows, jobs and batches alike: the replica working on one holds it until a
time; when that passes (the replica died, or handed it back) another replica claims it.

Each step is one conditional UPDATE, atomic in both databases: a claim only takes a lease that
has run out, so two replicas never both hold one.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from visionstudio.server.store.sql import Row

# The status of a running job and of a running batch.
RUNNING = "running"


@dataclass(frozen=True)
class LeaseSql:
    expired: str
    claim: str
    renew: str
    release: str


def lease_sql(table: str) -> LeaseSql:
    """The lease statements of `table` (columns id, status, lease_owner, lease_until)."""
    return LeaseSql(
        expired=f"SELECT id FROM {table} WHERE status = ? AND lease_until < ? LIMIT ?",
        claim=(
            f"UPDATE {table} SET lease_owner = ?, lease_until = ?"
            " WHERE id = ? AND status = ? AND lease_until < ?"
        ),
        renew=f"UPDATE {table} SET lease_until = ? WHERE id = ? AND lease_owner = ? AND status = ?",
        release=f"UPDATE {table} SET lease_until = 0 WHERE id = ? AND lease_owner = ?",
    )


JOB_LEASES = lease_sql("jobs")
BATCH_LEASES = lease_sql("batches")


class SqlLeases(abc.ABC):
    @abc.abstractmethod
    async def _fetch(self, statement: str, args: Sequence[Any]) -> Sequence[Row]: ...

    @abc.abstractmethod
    async def _execute(self, statement: str, args: Sequence[Any]) -> None: ...

    async def _claim(self, leases: LeaseSql, owner: str, lease_s: float, limit: int) -> list[str]:
        """The ids of up to `limit` expired rows, each claimed for `owner`; read them back
        before use: another replica's claim may have won the row."""
        now = time.time()
        ids = []
        for row in await self._fetch(leases.expired, (RUNNING, now, limit)):
            await self._execute(leases.claim, (owner, now + lease_s, row["id"], RUNNING, now))
            ids.append(str(row["id"]))
        return ids

    async def _renew(self, leases: LeaseSql, row_id: str, owner: str, lease_s: float) -> None:
        await self._execute(leases.renew, (time.time() + lease_s, row_id, owner, RUNNING))

    async def _release(self, leases: LeaseSql, row_id: str, owner: str) -> None:
        await self._execute(leases.release, (row_id, owner))
