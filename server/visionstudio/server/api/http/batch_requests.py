"""The body of `POST /batches`: reference request bodies, each with its `item_id`, parsed by the
models the image routes use, and mapped to the core's batch items.

Three shapes: a JSON array of items; JSON Lines (one item per non-empty line); or an object
`{"items": [...], "idempotency_key": "..."}`. An item's `operation` may be left out: a mask (or
`inpaint_border_only`) means inpaint, an image means edit, anything else generate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from visionstudio.server.api.http.models import (
    EditImageRequest,
    GenerateImageRequest,
    InpaintRequest,
    describe,
    invalid,
)
from visionstudio.server.errors import FieldViolation as Violation
from visionstudio.server.errors import InvalidArgument
from visionstudio.server.jobs.batch_run import BatchItem
from visionstudio.server.jobs.batches import MAX_ITEMS
from visionstudio.server.spec import Operation

JSON_LINES = frozenset({"application/jsonl", "application/x-ndjson"})
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Keys only one operation takes: they name it when `operation` is left out.
_INPAINT_KEYS = frozenset({"mask_url", "mask_file", "inpaint_border_only"})
_EDIT_KEYS = frozenset({"image_url", "image_file"})
# A JSON array (found without copying a body of up to ~140 MB, as lstrip() would).
_ARRAY = re.compile(rb"\s*\[")


def _item_id_field() -> Any:
    return Field(
        description="The caller's name for the item, unique in the batch, 1..128 characters; "
        "every event and answer about the item carries it."
    )


def _operation_field(operation: Operation) -> Any:
    # Aliased: `operation` is already the request models' class-level constant.
    return Field(
        default=operation.value,
        alias="operation",
        description="`generate`, `edit` or `inpaint`. Left out, a mask or `inpaint_border_only` "
        "means inpaint, an image edit, anything else generate.",
    )


class GenerateBatchItem(GenerateImageRequest):
    """A generate-image body with its `item_id`."""

    item_id: str = _item_id_field()
    kind: Literal["generate"] = _operation_field(Operation.GENERATE)


class EditBatchItem(EditImageRequest):
    """An edit-image body with its `item_id`."""

    item_id: str = _item_id_field()
    kind: Literal["edit"] = _operation_field(Operation.EDIT)


class InpaintBatchItem(InpaintRequest):
    """An inpaint body with its `item_id`."""

    item_id: str = _item_id_field()
    kind: Literal["inpaint"] = _operation_field(Operation.INPAINT)


_MODELS: dict[str, type[BaseModel]] = {
    Operation.GENERATE.value: GenerateBatchItem,
    Operation.EDIT.value: EditBatchItem,
    Operation.INPAINT.value: InpaintBatchItem,
}


def _operation_of(item: Any) -> Any:
    """The item's operation: named, or inferred from the keys only one operation takes."""
    if not isinstance(item, dict):
        return None
    if item.get("operation") is not None:
        return item["operation"]
    if _INPAINT_KEYS & item.keys():
        return Operation.INPAINT.value
    return Operation.EDIT.value if _EDIT_KEYS & item.keys() else Operation.GENERATE.value


ItemRequest = GenerateBatchItem | EditBatchItem | InpaintBatchItem
Item = Annotated[
    Annotated[GenerateBatchItem, Tag(Operation.GENERATE.value)]
    | Annotated[EditBatchItem, Tag(Operation.EDIT.value)]
    | Annotated[InpaintBatchItem, Tag(Operation.INPAINT.value)],
    Discriminator(_operation_of),
]


class BatchRequest(BaseModel):
    """A batch as one JSON object (a JSON array of items, or JSON Lines, are taken too)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[Item] = Field(description=f"1..{MAX_ITEMS} items, each an ordinary job.")
    idempotency_key: str = Field(
        default="",
        description="A repeat with the same key re-attaches to the first batch (also the "
        f"`{IDEMPOTENCY_HEADER}` header). Up to 128 characters.",
    )


_ITEM: TypeAdapter[ItemRequest] = TypeAdapter(Item)
_ITEMS: TypeAdapter[list[ItemRequest]] = TypeAdapter(list[Item])
_BODY = TypeAdapter(BatchRequest)
_T = TypeVar("_T")


@dataclass(frozen=True)
class Submission:
    items: list[BatchItem]
    idempotency_key: str


def parse_batch(raw: bytes, *, content_type: str, header_key: str | None) -> Submission:
    """The body as the core's items; InvalidArgument names every bad `items[i].key`."""
    lines: list[int] | None = None
    body_key = ""
    if content_type in JSON_LINES:
        requests, lines = _json_lines(raw)
    elif _ARRAY.match(raw):
        requests = _validated(_ITEMS, raw, array=True)
    else:
        body = _validated(_BODY, raw, array=False)
        requests, body_key = body.items, body.idempotency_key
    return Submission(_to_items(requests, lines), _idempotency_key(body_key, header_key))


def _validated(adapter: TypeAdapter[_T], raw: bytes, *, array: bool) -> _T:
    try:
        return adapter.validate_json(raw)
    except ValidationError as exc:
        raise invalid([_body_violation(e, array=array) for e in exc.errors()]) from None


def _body_violation(error: ErrorDetails, *, array: bool) -> Violation:
    # A bare array's errors start at the item's position; an object's at `items`.
    loc = ("items", *error["loc"]) if array and error["loc"] else error["loc"]
    if len(loc) > 1 and loc[0] == "items" and isinstance(loc[1], int):
        return _item_violation(loc[1], error, loc[2:])
    found = describe(error, BatchRequest)
    if error["type"] == "json_invalid" and not array:
        # The likeliest cause: JSON Lines sent without saying so (curl's -d says form data).
        hint = f"; JSON Lines need Content-Type {' or '.join(sorted(JSON_LINES))}"
        return Violation(found.field, found.description + hint)
    return found


def _json_lines(raw: bytes) -> tuple[list[ItemRequest], list[int]]:
    """The items and the line number of each; every bad line is named."""
    requests: list[ItemRequest] = []
    lines: list[int] = []
    violations: list[Violation] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        lines.append(number)
        try:
            requests.append(_ITEM.validate_json(line))
        except ValidationError as exc:
            position = len(lines) - 1
            violations += [
                _on_line(number, _item_violation(position, e, e["loc"])) for e in exc.errors()
            ]
    if violations:
        raise invalid(violations)
    return requests, lines


def _on_line(number: int, violation: Violation) -> Violation:
    return Violation(violation.field, f"line {number}: {violation.description}")


def _item_violation(position: int, error: ErrorDetails, loc: tuple[int | str, ...]) -> Violation:
    """An item's error; `loc` starts at the item (its operation tag, then the key)."""
    where = f"items[{position}]"
    if error["type"] == "union_tag_invalid":
        return Violation(f"{where}.operation", "must be generate, edit or inpaint")
    if error["type"] == "union_tag_not_found":
        return Violation(where, "must be an object: a request body with its item_id")
    if len(loc) < 2:
        return Violation(where, str(error["msg"]))
    within = error.copy()
    within["loc"] = loc[1:]
    inner = describe(within, _MODELS[str(loc[0])], taker=f"{loc[0]} items take")
    return Violation(f"{where}.{inner.field}", inner.description)


def _to_items(requests: list[ItemRequest], lines: list[int] | None) -> list[BatchItem]:
    """The core's items; the checks the models leave to `to_spec` name the item too."""
    items: list[BatchItem] = []
    violations: list[Violation] = []
    for position, request in enumerate(requests):
        try:
            spec = request.to_spec()
        except InvalidArgument as error:
            for v in error.violations:
                found = Violation(f"items[{position}].{v.field}", v.description)
                violations.append(_on_line(lines[position], found) if lines else found)
            continue
        # The batch's key makes the batch idempotent; an item's own key is not used.
        items.append(BatchItem(request.item_id, replace(spec, idempotency_key="")))
    if violations:
        raise invalid(violations)
    return items


def _idempotency_key(body_key: str, header_key: str | None) -> str:
    if header_key is None:
        return body_key
    if body_key and body_key != header_key:
        raise InvalidArgument(
            "idempotency_key", f"differs from the {IDEMPOTENCY_HEADER} header; send one of them"
        )
    return header_key
