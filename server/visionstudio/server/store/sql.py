"""The job store's SQL and row mapping, written once for SQLite and PostgreSQL.

Statements use ``?`` placeholders (PostgreSQL's store numbers them); the few expressions the
dialects spell differently come from a `Dialect`. Schemas stay per dialect (see migrations/).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

from visionstudio.server.spec import Usage
from visionstudio.server.store.records import ImageRecord, JobRecord, JobStatus, UsageTotals

# The token counts summed by `usage`, one per Usage field.
USAGE_FIELDS = tuple(f.name for f in fields(Usage))


class Row(Protocol):
    """A result row by column name: sqlite3.Row and asyncpg.Record both are."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass(frozen=True)
class Dialect:
    # Orders a job's images as they were stored (it grows with every insert).
    image_order: str
    # One integer of a job's usage JSON, the field's key bound as json_key_prefix + name.
    usage_field: str
    json_key_prefix: str


SQLITE = Dialect(
    image_order="images.rowid", usage_field="json_extract(usage, ?)", json_key_prefix="$."
)
POSTGRES = Dialect(
    image_order="images.seq", usage_field="CAST(usage ->> ? AS BIGINT)", json_key_prefix=""
)

# Both column lists are named as their record's fields: the row mapping reads them by name.
JOB_COLUMNS = (
    "id, rpc, caller, model, params, status, usage, error, created_at, updated_at,"
    " idempotency_key, request_hash, number_of_images, lease_owner, lease_until"
)
SELECT_JOB = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"
SELECT_KEY_HOLDER = f"SELECT {JOB_COLUMNS} FROM jobs WHERE caller = ? AND idempotency_key = ?"
RELEASE_KEY = "UPDATE jobs SET idempotency_key = NULL WHERE id = ?"
INSERT_JOB = (
    "INSERT INTO jobs (id, rpc, caller, model, params, status, created_at, updated_at,"
    " idempotency_key, request_hash, number_of_images, lease_owner, lease_until)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_IMAGE = (
    "INSERT INTO images (id, job_id, idx, blob_key, mime_type, width, height, size_bytes,"
    " created_at, usage, deployment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# A job already ended (cancelled by CancelJob) keeps its status and reason; usage still counts.
FINISH_JOB = (
    "UPDATE jobs SET status = CASE WHEN status = ? THEN ? ELSE status END,"
    " error = CASE WHEN status = ? THEN ? ELSE error END, usage = ?, updated_at = ?,"
    " idempotency_key = CASE WHEN ? THEN NULL ELSE idempotency_key END WHERE id = ?"
)
CANCEL_JOB = "UPDATE jobs SET status = ?, error = ?, updated_at = ? WHERE id = ? AND status = ?"
# The jobs `purge` deletes; bound as purgeable_args(older_than).
PURGEABLE = "created_at < ? AND status <> ?"
# ("index" is quoted: it is a keyword.)
SELECT_IMAGES = (
    'SELECT images.id, images.job_id, images.idx AS "index", images.blob_key, images.mime_type,'
    " images.width, images.height, images.size_bytes, jobs.caller, images.created_at,"
    " images.usage, images.deployment"
    " FROM images JOIN jobs ON jobs.id = images.job_id"
)
# Open bounds are infinities, so one statement serves every combination.
USAGE_WHERE = "FROM jobs WHERE caller = ? AND created_at >= ? AND created_at < ?"
IMAGE_COUNT = "(SELECT COUNT(*) FROM images WHERE images.job_id = jobs.id)"


def purgeable_args(older_than: float) -> tuple[float, str]:
    return older_than, JobStatus.RUNNING


def job_values(job: JobRecord) -> tuple[Any, ...]:
    """INSERT_JOB's arguments."""
    return (
        job.id,
        job.rpc,
        job.caller,
        job.model,
        json.dumps(job.params),
        job.status,
        job.created_at,
        job.updated_at,
        job.idempotency_key,
        job.request_hash,
        job.number_of_images,
        job.lease_owner,
        job.lease_until,
    )


def image_values(image: ImageRecord, now: float) -> tuple[Any, ...]:
    """INSERT_IMAGE's arguments."""
    return (
        image.id,
        image.job_id,
        image.index,
        image.blob_key,
        image.mime_type,
        image.width,
        image.height,
        image.size_bytes,
        now,
        usage_json(image.usage) if image.usage is not None else None,
        image.deployment,
    )


def usage_json(usage: Usage) -> str:
    return json.dumps(asdict(usage))


def _by_field(record: type[Any], row: Row) -> dict[str, Any]:
    """The row's columns named as the record's fields."""
    return {f.name: row[f.name] for f in fields(record)}


def _usage(stored: str | None) -> Usage | None:
    return Usage(**json.loads(stored)) if stored is not None else None


def job_from_row(row: Row) -> JobRecord:
    values = _by_field(JobRecord, row)
    values |= {
        "params": json.loads(values["params"]),
        "status": JobStatus(values["status"]),
        "usage": _usage(values["usage"]),
    }
    return JobRecord(**values)


def image_from_row(row: Row) -> ImageRecord:
    values = _by_field(ImageRecord, row)
    return ImageRecord(**(values | {"usage": _usage(values["usage"])}))


def usage_query(
    dialect: Dialect, caller: str, since: float | None, until: float | None
) -> tuple[str, tuple[Any, ...]]:
    # CAST: PostgreSQL's SUM of integers is numeric; the totals come back as ints.
    sums = ", ".join(
        f"CAST(COALESCE(SUM({dialect.usage_field}), 0) AS BIGINT) AS {name}"
        for name in USAGE_FIELDS
    )
    images = f"CAST(COALESCE(SUM({IMAGE_COUNT}), 0) AS BIGINT) AS images"
    sql = f"SELECT COUNT(*) AS jobs, {images}, {sums} {USAGE_WHERE}"
    args = (
        *(dialect.json_key_prefix + name for name in USAGE_FIELDS),
        caller,
        since if since is not None else float("-inf"),
        until if until is not None else float("inf"),
    )
    return sql, args


def usage_totals(row: Row) -> UsageTotals:
    """The totals from usage_query's one row."""
    return UsageTotals(
        jobs=row["jobs"],
        images=row["images"],
        usage=Usage(**{name: row[name] for name in USAGE_FIELDS}),
    )
