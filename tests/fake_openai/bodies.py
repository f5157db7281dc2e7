"""Reading request bodies: a JSON object for generations, a multipart form for edits.

Every body is recorded as it arrives (see RecordedRequest), before anything may refuse it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fake_openai.errors import ApiError, bad, kind

MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_MASK_BYTES = 4 * 1024 * 1024
MAX_JSON_BYTES = 16 * 1024 * 1024
_FILE_FIELDS = frozenset({"image", "image[]", "mask", "markup"})


@dataclass
class RecordedRequest:
    """One request as the fake received it (kept even when it was refused)."""

    endpoint: str  # "generations" or "edits"; the raw path for any other route
    fields: dict[str, Any]  # JSON body, or multipart text fields (repeated fields as list)
    files: dict[str, list[tuple[str, str, bytes]]]  # field -> [(filename, content_type, bytes)]
    headers: dict[str, str]


@dataclass
class Upload:
    """One file of a multipart form."""

    name: str
    filename: str
    content_type: str
    data: bytes  # at most the field's limit; `size` is the true length
    size: int


async def read_json(request: web.Request, record: RecordedRequest) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(413, "Request body too large.", code="request_too_large") from exc
    try:
        body = json.loads(raw)
    except ValueError as exc:
        msg = "We could not parse the JSON body of your request. The API expects a JSON payload."
        raise bad(msg, None, None) from exc
    if not isinstance(body, dict):
        raise bad(f"Invalid type for the request body: expected an object, got {kind(body)}.")
    record.fields = body
    return body


async def read_form(
    request: web.Request, record: RecordedRequest
) -> tuple[dict[str, Any], dict[str, list[Upload]]]:
    """The text fields (a repeated one as a list) and the files, by field name."""
    if request.content_type != "multipart/form-data":
        msg = f"Invalid Content-Type header ({request.content_type}), expected multipart/form-data."
        raise bad(msg, None, None)
    fields: dict[str, Any] = {}
    uploads: dict[str, list[Upload]] = {}
    try:
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader) or not part.name:
                raise bad("Nested or unnamed multipart parts are not supported.", None, None)
            if part.filename is None:
                value = await part.text()
                old = fields.get(part.name)
                fields[part.name] = value if old is None else [*_as_list(old), value]
                continue
            upload = await _read_upload(part, part.name, part.filename)
            uploads.setdefault(upload.name, []).append(upload)
            record.files.setdefault(upload.name, []).append(
                (upload.filename, upload.content_type, upload.data)
            )
    except (ValueError, AssertionError, UnicodeDecodeError) as exc:
        raise bad(f"Could not parse the multipart form: {exc}", None, None) from exc
    finally:
        record.fields = fields
    _check_field_kinds(fields, uploads)
    return fields, uploads


async def _read_upload(part: BodyPartReader, name: str, filename: str) -> Upload:
    limit = MAX_MASK_BYTES if name == "mask" else MAX_IMAGE_BYTES
    data, size = bytearray(), 0
    while chunk := await part.read_chunk(1 << 20):
        size += len(chunk)
        if len(data) < limit:  # keep at most `limit` bytes; count the rest
            data += chunk[: limit - len(data)]
    return Upload(name, filename, part.headers.get("Content-Type", ""), bytes(data), size)


def _check_field_kinds(fields: dict[str, Any], uploads: dict[str, list[Upload]]) -> None:
    """Files only in the file fields, and text only elsewhere."""
    for name in uploads:
        if name not in _FILE_FIELDS:
            msg = f"Invalid type for '{name}': expected a string, but got a file."
            raise bad(msg, name, "invalid_type")
    for name in _FILE_FIELDS & fields.keys():
        msg = f"Invalid type for '{name}': expected a file, but got a string."
        raise bad(msg, name, "invalid_type")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
