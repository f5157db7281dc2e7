"""Reading a batch file: JSON Lines, one item per non-empty line.

Each line is a reference request body (what the HTTP routes generate-image, edit-image and
inpaint take: the same keys, enums spelled "1:1", "high", "transparent", files as base64) plus
`item_id` and an optional `operation`; without one, a mask or `inpaint_border_only` means
inpaint, an image means edit, anything else generate. `POST /api/v1/openai/batches` takes the
same lines. The CLI also takes `image_path` and `mask_path`, relative to the file. Every
mistake names its line and key, before anything is sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from visionstudio.client import requests
from visionstudio.client.options import ImageOptions, SceneOptions
from visionstudio.image.v1 import image_service_pb2 as pb

MAX_ITEM_ID_CHARS = 128
OPERATIONS = ("generate", "edit", "inpaint")
_DATA_URL_PREFIX = re.compile(r"data:[^,]*;base64,", re.IGNORECASE)
# The keys of each operation are its request's fields (the HTTP bodies use the same names), so
# they come from the contract rather than a list kept by hand.
_REQUESTS = {
    "generate": pb.GenerateImageRequest.DESCRIPTOR,
    "edit": pb.EditImageRequest.DESCRIPTOR,
    "inpaint": pb.InpaintRequest.DESCRIPTOR,
}
# The CLI's own keys: a file to read instead of the base64 field.
_PATH_KEYS = {"image_path": "image_file", "mask_path": "mask_file"}
_F = FieldDescriptor
# JSON's spelling of each field type: enums by name ("3:2"), bytes as base64 text.
_JSON_TYPES: dict[int, tuple[type, ...]] = {
    _F.TYPE_STRING: (str,),
    _F.TYPE_BYTES: (str,),
    _F.TYPE_ENUM: (str,),
    _F.TYPE_BOOL: (bool,),
    _F.TYPE_INT32: (int,),
    _F.TYPE_INT64: (int,),
    _F.TYPE_FLOAT: (int, float),
    _F.TYPE_DOUBLE: (int, float),
}
_TYPE_NAMES = {str: "a string", bool: "true or false", int: "an integer", float: "a number"}


class BatchFileError(ValueError):
    """A line of the file that cannot become an item; the message names the line and key."""


def read_batch_file(path: Path) -> list[pb.BatchRequestItem]:
    """The file's items, in order; raises BatchFileError naming the first bad line and key."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BatchFileError(f"cannot read {path}: {err}") from None
    items: list[pb.BatchRequestItem] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = _item(line, path.parent)
        except BatchFileError as err:
            raise BatchFileError(f"line {number}: {err}") from None
        if item.item_id in first_line:
            earlier = first_line[item.item_id]
            raise BatchFileError(f"line {number}: item_id: repeats line {earlier}'s")
        first_line[item.item_id] = number
        items.append(item)
    if not items:
        raise BatchFileError(f"{path} has no items: one JSON object per line")
    return items


def infer_operation(body: dict[str, Any]) -> str:
    """The operation a body names, or the one its keys imply."""
    named = body.get("operation")
    if named is not None:
        if named not in OPERATIONS:
            raise BatchFileError(f"operation: must be one of {', '.join(OPERATIONS)}")
        return str(named)
    if any(body.get(k) is not None for k in ("mask_url", "mask_file", "mask_path")):
        return "inpaint"
    if body.get("inpaint_border_only") is not None:
        return "inpaint"
    if any(body.get(k) is not None for k in ("image_url", "image_file", "image_path")):
        return "edit"
    return "generate"


def _item(line: str, base: Path) -> pb.BatchRequestItem:
    try:
        body = json.loads(line)
    except json.JSONDecodeError as err:
        raise BatchFileError(f"not JSON: {err.msg} (column {err.colno})") from None
    if not isinstance(body, dict):
        raise BatchFileError("must be a JSON object")
    operation = infer_operation(body)
    _check_keys(operation, body)
    item_id = body["item_id"]
    if not 1 <= len(item_id) <= MAX_ITEM_ID_CHARS:
        raise BatchFileError(f"item_id: must be 1..{MAX_ITEM_ID_CHARS} characters")
    if body.get("number_of_images", 1) < 1:
        raise BatchFileError("number_of_images: must be at least 1")
    try:
        return _request(operation, item_id, body, base)
    except BatchFileError:
        raise
    except ValueError as err:
        # From enum_value, whose message names the key: "unknown aspect_ratio '5:4'; ..."
        raise BatchFileError(_enum_message(str(err))) from None


def _check_keys(operation: str, body: dict[str, Any]) -> None:
    """Every key is one the operation takes, spelled with its JSON type; strict, as the HTTP
    routes are: "2" is not a number and an unknown key is a mistake."""
    for required in ("item_id", "prompt"):
        if not isinstance(body.get(required), str):
            raise BatchFileError(f"{required}: is required (a string)")
    fields = _REQUESTS[operation].fields_by_name
    for key, value in body.items():
        if key in ("item_id", "operation") or value is None:
            continue
        field = fields.get(_PATH_KEYS.get(key, key))
        if field is None:
            known = ["item_id", "operation", *fields]
            known += [k for k, f in _PATH_KEYS.items() if f in fields]
            raise BatchFileError(f"{key}: unknown key; {operation} takes {', '.join(known)}")
        expected = _JSON_TYPES[field.type]
        # bool is an int to Python, never to JSON.
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            raise BatchFileError(f"{key}: must be {_TYPE_NAMES[expected[-1]]}")


def _request(operation: str, item_id: str, body: dict[str, Any], base: Path) -> pb.BatchRequestItem:
    # The CLI saves every image, so it asks for the bytes (as the single-call commands do).
    common: ImageOptions = {
        "number_of_images": body.get("number_of_images", 1),
        "quality": body.get("quality"),
        "output_format": body.get("output_format"),
        "include_data": True,
    }
    scene: SceneOptions = {
        **common,
        "aspect_ratio": body.get("aspect_ratio"),
        "background": body.get("background"),
        "partial_images": body.get("partial_images", 0),
    }
    prompt = body["prompt"]
    if operation == "generate":
        return requests.generate_item(item_id, prompt, **scene)
    image = _source(body, "image", base)
    if image is None:
        raise BatchFileError(f"image_url: {operation} needs image_url, image_file or image_path")
    if operation == "edit":
        return requests.edit_item(item_id, prompt, image, **scene)
    return requests.inpaint_item(
        item_id,
        prompt,
        image,
        mask=_source(body, "mask", base),
        inpaint_border_only=body.get("inpaint_border_only", False),
        border_percentage=body.get("border_percentage", 0.0),
        **common,
    )


def _source(body: dict[str, Any], name: str, base: Path) -> bytes | str | None:
    """`<name>_url` (a str), `<name>_file` (base64) or `<name>_path` (a file): at most one."""
    given = [k for k in (f"{name}_url", f"{name}_file", f"{name}_path") if body.get(k) is not None]
    if len(given) > 1:
        raise BatchFileError(f"{given[1]}: give only one of {', '.join(given)}")
    if not given:
        return None
    key = given[0]
    value: str = body[key]
    if key.endswith("_url"):
        return str(value)
    if key.endswith("_file"):
        prefix = _DATA_URL_PREFIX.match(value)
        try:
            return base64.b64decode(
                "".join(value[prefix.end() if prefix else 0 :].split()), validate=True
            )
        except binascii.Error:
            raise BatchFileError(f"{key}: is not valid base64") from None
    try:
        return (base / value).read_bytes()
    except OSError as err:
        raise BatchFileError(f"{key}: cannot read {base / value}: {err.strerror}") from None


def _enum_message(message: str) -> str:
    """ "unknown aspect_ratio '5:4'; expected ..." as "aspect_ratio: unknown value '5:4'; ..."."""
    words = message.split(" ", 2)
    if len(words) == 3 and words[0] == "unknown":
        return f"{words[1]}: unknown value {words[2]}"
    return message
