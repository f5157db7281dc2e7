"""The batch routes' part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from visionstudio.server.api.http.answers import ErrorResponse
from visionstudio.server.api.http.batch_answers import (
    BatchAcceptedEvent,
    BatchAnswer,
    BatchFilter,
    BatchPageAnswer,
    BatchSummaryEvent,
    ItemEndedEvent,
    ItemImageEvent,
    ItemStartedEvent,
)
from visionstudio.server.api.http.batch_requests import (
    IDEMPOTENCY_HEADER,
    JSON_LINES,
    BatchRequest,
)
from visionstudio.server.api.http.batch_routes import (
    BATCH_CANCEL_PATH,
    BATCH_EVENTS_PATH,
    BATCH_PATH,
    BATCHES_PATH,
)
from visionstudio.server.api.http.openapi_parts import (
    SECURITY,
    error_answers,
    event_stream,
    json_content,
    read,
    ref,
)
from visionstudio.server.jobs.batches import MAX_ITEMS

REQUESTS: list[type[BaseModel]] = [BatchRequest]
ANSWERS: list[type[BaseModel]] = [
    BatchAnswer,
    BatchPageAnswer,
    BatchAcceptedEvent,
    ItemStartedEvent,
    ItemImageEvent,
    ItemEndedEvent,
    BatchSummaryEvent,
]
_EVENTS: dict[str, type[BaseModel]] = {
    "accepted": BatchAcceptedEvent,
    "item_started": ItemStartedEvent,
    "image": ItemImageEvent,
    "item_ended": ItemEndedEvent,
    "summary": BatchSummaryEvent,
    "error": ErrorResponse,
}
# The routes of one batch: its id in the path, 404 when it is not the caller's.
_ONE: dict[str, Any] = {"path": "batch_id", "missing": "batch"}
_STREAM_DESCRIPTION = (
    "Server-Sent Events: `accepted` (BatchAcceptedEvent) first, then per item `item_started` "
    "(its job id), one `image` (ItemImageEvent) per finished image in completion order and "
    "`item_ended` (success, or the item's own error), then `summary` (BatchSummaryEvent); or "
    "`error` (ErrorResponse) if the stream itself fails. Leaving the stream does not stop the "
    "batch."
)
_SUBMIT_DESCRIPTION = (
    f"Up to {MAX_ITEMS} items, each the body of generate-image, edit-image or inpaint with its "
    "`item_id` (and optionally `operation`; left out, a mask or `inpaint_border_only` means "
    "inpaint, an image edit, else generate): a JSON array, JSON Lines (one item per non-empty "
    "line), or an object with `items`. Each item is an ordinary job; one item's failure never "
    "fails the others. Errors name the item (`items[3].aspect_ratio`; in JSON Lines also the "
    "line) and nothing runs. An item's own `idempotency_key` is not used: the batch's is. "
    "Images by URL keep large batches under the body limit."
)


def paths(schemas: dict[str, Any]) -> dict[str, Any]:
    """The batch routes; `schemas` are the document's, BatchRequest's among them."""
    events = read("watchBatch", "The batch's events as Server-Sent Events.", BatchAnswer, **_ONE)
    events["responses"]["200"] = {
        "description": "What is done, then the rest as it finishes, to the `summary`.",
        "content": event_stream(_EVENTS, _STREAM_DESCRIPTION),
    }
    listing = read(
        "listBatches",
        "The caller's batches, newest first (without their items).",
        BatchPageAnswer,
        BatchFilter,
        missing="batch",
    )
    return {
        BATCHES_PATH: {"post": _submit(schemas), "get": listing},
        BATCH_PATH: {
            "get": read(
                "getBatch", "One of the caller's batches, with its items.", BatchAnswer, **_ONE
            )
        },
        BATCH_EVENTS_PATH: {"get": events},
        BATCH_CANCEL_PATH: {
            "post": read(
                "cancelBatch",
                "Cancels every unfinished item (an ended batch is returned unchanged).",
                BatchAnswer,
                **_ONE,
            )
        },
    }


def _submit(schemas: dict[str, Any]) -> dict[str, Any]:
    items = schemas[BatchRequest.__name__]["properties"]["items"]
    # An item without `operation` fits every item schema: any of them, not exactly one.
    items["items"] = {"anyOf": items["items"].pop("oneOf")}
    lines = {"schema": {"type": "string", "description": "One item (a JSON object) per line."}}
    array = {"type": "array", "items": items["items"], "minItems": 1, "maxItems": MAX_ITEMS}
    return {
        "operationId": "runBatch",
        "summary": "Runs many image requests in one call.",
        "description": _SUBMIT_DESCRIPTION,
        "security": SECURITY,
        "parameters": [
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": False,
                "description": "A repeat with the same key re-attaches to the first batch "
                "(or `idempotency_key` in the object form; both must then agree).",
                "schema": {"type": "string"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"oneOf": [array, ref(BatchRequest)]}},
                **{content_type: lines for content_type in sorted(JSON_LINES)},
            },
        },
        "responses": {
            "202": {
                "description": "Accepted: the batch, which runs on; `Location` is its URL.",
                "headers": {"Location": {"schema": {"type": "string"}}},
                "content": json_content(BatchAnswer),
            },
            "200": {
                "description": "With `Accept: text/event-stream`: the batch as it runs.",
                "content": event_stream(_EVENTS, _STREAM_DESCRIPTION),
            },
            **error_answers(400, 401, 413, 500),
        },
    }
