"""The answers of the batch routes (a batch, a page of batches, the events of a batch stream):
models (the OpenAPI document is built from them) and their mapping from the core's types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from visionstudio.server.api.http.answers import Image, TokenUsage, image_model, token_usage
from visionstudio.server.api.http.job_answers import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Query
from visionstudio.server.jobs.batch_events import (
    BatchAccepted,
    BatchEvent,
    BatchFinished,
    ItemEnded,
    ItemImage,
    ItemStarted,
)
from visionstudio.server.jobs.batches import BatchView
from visionstudio.server.store.batch_records import (
    BatchItemRecord,
    BatchPage,
    BatchRecord,
    BatchStatus,
    ItemStatus,
)


class BatchItemState(BaseModel):
    item_id: str
    status: ItemStatus
    job_id: str = Field(description="The item's job (the job routes work on it); empty before.")
    error: str = Field(description="What failed, or why it was cancelled; else empty.")


class Batch(BaseModel):
    """A batch: many image requests in one call, each item an ordinary job."""

    batch_id: str
    status: BatchStatus
    item_count: int
    items: list[BatchItemState] = Field(description="In the order sent; empty in listings.")
    created_at: datetime
    updated_at: datetime
    idempotency_key: str


class BatchAnswer(BaseModel):
    success: Literal[True]
    data: Batch


class BatchPageData(BaseModel):
    batches: list[Batch] = Field(description="Newest first.")
    next_page_token: str = Field(description="Pass as `page_token` for the next page; empty last.")


class BatchPageAnswer(BaseModel):
    success: Literal[True]
    data: BatchPageData


class BatchFilter(Query):
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    page_token: str | None = None


class BatchAcceptedEvent(BaseModel):
    """Server-sent event `accepted`: the first event of a batch stream."""

    batch_id: str
    item_count: int


class ItemStartedEvent(BaseModel):
    """Server-sent event `item_started`: the item's job exists."""

    item_id: str
    job_id: str


class ItemImageEvent(Image):
    """Server-sent event `image`: a finished image of an item, as a job's stream sends it,
    tagged with the item and its job."""

    item_id: str
    job_id: str


class ItemEndedEvent(BaseModel):
    """Server-sent event `item_ended`: the item succeeded, failed or was cancelled; one item's
    failure never fails the others."""

    item_id: str
    job_id: str = Field(description="Empty when the item failed before its job existed.")
    status: ItemStatus
    error: str = Field(description="What failed, or why it was cancelled; else empty.")
    reason: str = Field(description="The failure's reason, e.g. INVALID_ARGUMENT; else empty.")


class BatchSummaryEvent(BaseModel):
    """Server-sent event `summary`: the last event of a batch stream."""

    batch_id: str
    items_succeeded: int
    items_failed: int
    items_cancelled: int
    images_delivered: int
    usage: TokenUsage = Field(description="Summed over every item's job.")
    elapsed_ms: int


def _stamp(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def _item(item: BatchItemRecord) -> BatchItemState:
    return BatchItemState(
        item_id=item.item_id, status=item.status, job_id=item.job_id or "", error=item.error or ""
    )


def _batch(record: BatchRecord, items: list[BatchItemRecord]) -> Batch:
    return Batch(
        batch_id=record.id,
        status=record.status,
        item_count=record.item_count,
        items=[_item(i) for i in items],
        created_at=_stamp(record.created_at),
        updated_at=_stamp(record.updated_at),
        idempotency_key=record.idempotency_key or "",
    )


def batch_json(view: BatchView) -> dict[str, Any]:
    return BatchAnswer(success=True, data=_batch(view.batch, view.items)).model_dump(mode="json")


def page_json(page: BatchPage) -> dict[str, Any]:
    data = BatchPageData(
        batches=[_batch(b, []) for b in page.batches], next_page_token=page.next_page_token or ""
    )
    return BatchPageAnswer(success=True, data=data).model_dump(mode="json")


def event_json(event: BatchEvent) -> tuple[str, dict[str, Any]]:
    """The event's Server-Sent Event name and JSON. An image with its bytes is megabytes of
    base64: callers run those in a worker thread."""
    found: tuple[str, BaseModel]
    if isinstance(event, BatchAccepted):
        found = "accepted", BatchAcceptedEvent(batch_id=event.batch_id, item_count=event.item_count)
    elif isinstance(event, ItemStarted):
        found = "item_started", ItemStartedEvent(item_id=event.item_id, job_id=event.job_id)
    elif isinstance(event, ItemImage):
        image = dict(image_model(event.image))
        found = "image", ItemImageEvent(item_id=event.item_id, job_id=event.job_id, **image)
    elif isinstance(event, ItemEnded):
        found = "item_ended", _ended(event)
    else:
        found = "summary", _summary(event)
    kind, model = found
    return kind, model.model_dump(mode="json", exclude_none=True)


def _ended(event: ItemEnded) -> ItemEndedEvent:
    return ItemEndedEvent(
        item_id=event.item_id,
        job_id=event.job_id or "",
        status=event.status,
        error=event.error or "",
        reason=event.reason or "",
    )


def _summary(event: BatchFinished) -> BatchSummaryEvent:
    return BatchSummaryEvent(
        batch_id=event.batch_id,
        items_succeeded=event.succeeded,
        items_failed=event.failed,
        items_cancelled=event.cancelled,
        images_delivered=event.images_delivered,
        usage=token_usage(event.usage),
        elapsed_ms=event.elapsed_ms,
    )
