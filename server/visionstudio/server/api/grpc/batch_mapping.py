"""Between the batch messages of the contract and the core's batch types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.server.api.grpc import mapping
from visionstudio.server.errors import InvalidArgument
from visionstudio.server.jobs.batch_events import (
    BatchAccepted,
    BatchEvent,
    BatchFinished,
    ItemEnded,
    ItemImage,
    ItemStarted,
)
from visionstudio.server.jobs.batch_run import BatchItem
from visionstudio.server.store.batch_records import (
    BatchItemRecord,
    BatchRecord,
    BatchStatus,
    ItemStatus,
)

_ITEM_STATUSES: dict[ItemStatus, pb.BatchItemStatus.ValueType] = {
    ItemStatus.PENDING: pb.BATCH_ITEM_STATUS_PENDING,
    ItemStatus.RUNNING: pb.BATCH_ITEM_STATUS_RUNNING,
    ItemStatus.SUCCEEDED: pb.BATCH_ITEM_STATUS_SUCCEEDED,
    ItemStatus.FAILED: pb.BATCH_ITEM_STATUS_FAILED,
    ItemStatus.CANCELLED: pb.BATCH_ITEM_STATUS_CANCELLED,
}
_STATUSES: dict[BatchStatus, pb.BatchStatus.ValueType] = {
    BatchStatus.RUNNING: pb.BATCH_STATUS_RUNNING,
    BatchStatus.SUCCEEDED: pb.BATCH_STATUS_SUCCEEDED,
    BatchStatus.PARTIAL: pb.BATCH_STATUS_PARTIAL,
    BatchStatus.FAILED: pb.BATCH_STATUS_FAILED,
    BatchStatus.CANCELLED: pb.BATCH_STATUS_CANCELLED,
}


def to_items(request: pb.RunBatchRequest) -> list[BatchItem]:
    """The core's items; an item's own bad fields fail that item alone, when it runs."""
    items = []
    for position, item in enumerate(request.items):
        kind = item.WhichOneof("request")
        if kind is None:
            raise InvalidArgument(f"items[{position}]", "needs one of generate, edit or inpaint")
        spec = mapping.to_spec(getattr(item, kind))
        # The batch's key makes the batch idempotent; an item's own key is not used.
        items.append(BatchItem(item.item_id, replace(spec, idempotency_key="")))
    return items


def to_event(event: BatchEvent, max_bytes: int) -> pb.BatchEvent:
    if isinstance(event, BatchAccepted):
        accepted = pb.BatchAccepted(batch_id=event.batch_id, item_count=event.item_count)
        return pb.BatchEvent(accepted=accepted)
    if isinstance(event, ItemStarted):
        return pb.BatchEvent(
            item_started=pb.BatchItemStarted(item_id=event.item_id, job_id=event.job_id)
        )
    if isinstance(event, ItemImage):
        image = mapping.to_event(event.image, max_bytes).image
        return pb.BatchEvent(
            image=pb.BatchImage(item_id=event.item_id, job_id=event.job_id, image=image)
        )
    if isinstance(event, ItemEnded):
        ended = pb.BatchItemEnded(
            item_id=event.item_id,
            job_id=event.job_id or "",
            status=_ITEM_STATUSES[event.status],
            error=event.error or "",
            error_reason=event.reason or "",
        )
        return pb.BatchEvent(item_ended=ended)
    return pb.BatchEvent(summary=_summary(event))


def _summary(event: BatchFinished) -> pb.BatchSummary:
    return pb.BatchSummary(
        batch_id=event.batch_id,
        items_succeeded=event.succeeded,
        items_failed=event.failed,
        items_cancelled=event.cancelled,
        images_delivered=event.images_delivered,
        usage=mapping.usage_message(event.usage),
        elapsed_ms=event.elapsed_ms,
    )


def to_batch(record: BatchRecord, items: Sequence[BatchItemRecord] = ()) -> pb.Batch:
    """The batch, with its items when given (listings leave them out)."""
    answered = [
        pb.BatchItem(
            item_id=item.item_id,
            job_id=item.job_id or "",
            status=_ITEM_STATUSES[item.status],
            error=item.error or "",
        )
        for item in items
    ]
    return pb.Batch(
        batch_id=record.id,
        status=_STATUSES[record.status],
        item_count=record.item_count,
        items=answered,
        create_time=mapping.stamp(record.created_at),
        update_time=mapping.stamp(record.updated_at),
        idempotency_key=record.idempotency_key or "",
    )
