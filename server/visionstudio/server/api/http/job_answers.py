"""The answers of the job routes (a job, a page of jobs, usage) and their query strings:
models (the OpenAPI document is built from them) and their mapping from the store's records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from visionstudio.server.api.http.answers import Image, TokenUsage, image_model, token_usage
from visionstudio.server.errors import FieldViolation, InvalidArgument
from visionstudio.server.jobs.events import ImageReady
from visionstudio.server.spec import Usage
from visionstudio.server.store import JobPage, JobRecord, JobStatus, UsageTotals

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


class Job(BaseModel):
    """A job: one image call and what it produced."""

    job_id: str
    operation: str = Field(description="`generate`, `edit` or `inpaint`.")
    status: JobStatus
    model: str
    parameters: dict[str, Any] = Field(description="The request (image bytes as their length).")
    number_of_images: int
    images: list[Image] = Field(description="Stored so far; empty in listings.")
    usage: TokenUsage
    error: str = Field(description="What failed, for partial and failed jobs; else empty.")
    created_at: datetime
    updated_at: datetime
    idempotency_key: str


class JobAnswer(BaseModel):
    success: Literal[True]
    data: Job


class JobPageData(BaseModel):
    jobs: list[Job] = Field(description="Newest first.")
    next_page_token: str = Field(description="Pass as `page_token` for the next page; empty last.")


class JobPageAnswer(BaseModel):
    success: Literal[True]
    data: JobPageData


class UsageData(BaseModel):
    jobs: int = Field(description="Jobs created in the range.")
    images: int = Field(description="Images those jobs delivered.")
    usage: TokenUsage


class UsageAnswer(BaseModel):
    success: Literal[True]
    data: UsageData


class Query(BaseModel):
    # Query strings are text: numbers and times are parsed (lax), unknown keys are mistakes.
    model_config = ConfigDict(extra="forbid")


class UsageRange(Query):
    """ISO 8601 times (with an offset; none means UTC): jobs created in [start, end)."""

    start_time: datetime | None = None
    end_time: datetime | None = None


class JobFilter(Query):
    """ISO 8601 times (with an offset; none means UTC); every filter is optional."""

    created_after: datetime | None = None
    created_before: datetime | None = None
    status: JobStatus | None = None
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    page_token: str | None = None


class WatchQuery(Query):
    include_data: bool = False


_Q = TypeVar("_Q", bound=Query)


def parse_query(model: type[_Q], query: Mapping[str, str]) -> _Q:
    """The query string as `model`; InvalidArgument names every bad parameter."""
    try:
        return model.model_validate(dict(query))
    except ValidationError as exc:
        violations = [
            FieldViolation(".".join(str(p) for p in e["loc"]) or "query", str(e["msg"]))
            for e in exc.errors()
        ]
        error = InvalidArgument(violations[0].field, violations[0].description)
        error.violations = violations
        error.message = "; ".join(f"{v.field}: {v.description}" for v in violations)
        raise error from None


def epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _job(job: JobRecord, images: list[ImageReady]) -> Job:
    return Job(
        job_id=job.id,
        operation=job.rpc,
        status=job.status,
        model=job.model,
        parameters=job.params,
        number_of_images=job.number_of_images,
        images=[image_model(i) for i in sorted(images, key=lambda i: i.index)],
        usage=token_usage(job.usage or Usage()),
        error=job.error or "",
        created_at=datetime.fromtimestamp(job.created_at, UTC),
        updated_at=datetime.fromtimestamp(job.updated_at, UTC),
        idempotency_key=job.idempotency_key or "",
    )


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


def job_json(job: JobRecord, images: list[ImageReady]) -> dict[str, Any]:
    return _dump(JobAnswer(success=True, data=_job(job, images)))


def page_json(page: JobPage) -> dict[str, Any]:
    data = JobPageData(
        jobs=[_job(j, []) for j in page.jobs], next_page_token=page.next_page_token or ""
    )
    return _dump(JobPageAnswer(success=True, data=data))


def usage_json(totals: UsageTotals) -> dict[str, Any]:
    data = UsageData(jobs=totals.jobs, images=totals.images, usage=token_usage(totals.usage))
    return _dump(UsageAnswer(success=True, data=data))
