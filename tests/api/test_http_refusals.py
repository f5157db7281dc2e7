"""Requests the JSON surface refuses: unknown keys, wrong types, bad values, size, no key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from visionstudio.server.api.http import models as http_models

from tests.fake_openai import FakeOpenAI
from tests.support.harness import Harness
from tests.support.json_api import EDIT, GENERATE, INPAINT, ROUTES, Answer, Api


async def _refused(api: Api, route: str, body: object, field: str) -> Answer:
    answer = await api.post(route, body)
    assert answer.status == 400, answer.body
    assert answer.body["success"] is False and field in answer.body["message"]
    error = answer.body["error"]
    assert (error["code"], error["reason"]) == ("INVALID_ARGUMENT", "INVALID_ARGUMENT")
    assert field in [v["field"] for v in error["details"]["field_violations"]]
    return answer


async def test_unknown_keys_are_refused_naming_them(api: Api, upstream: FakeOpenAI) -> None:
    answer = await _refused(api, GENERATE, {"prompt": "a", "colour": "red"}, "colour")
    assert "prompt" in answer.body["message"]  # it says which keys the route takes
    # Inpaint has no aspect_ratio, as in the gRPC contract.
    await _refused(api, INPAINT, {"prompt": "a", "aspect_ratio": "1:1"}, "aspect_ratio")
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        (GENERATE, {"prompt": "a", "number_of_images": "2"}, "number_of_images"),
        (GENERATE, {"prompt": "a", "number_of_images": 2.5}, "number_of_images"),
        (GENERATE, {"prompt": "a", "include_data": 1}, "include_data"),
        (GENERATE, {"prompt": 5}, "prompt"),
        (GENERATE, {"prompt": None}, "prompt"),
        (GENERATE, {}, "prompt"),
        (EDIT, {"prompt": "a", "image_url": ["http://x"]}, "image_url"),
        (EDIT, {"prompt": "a", "image_file": 12}, "image_file"),
        (INPAINT, {"prompt": "a", "inpaint_border_only": "true"}, "inpaint_border_only"),
        (INPAINT, {"prompt": "a", "border_percentage": "0.2"}, "border_percentage"),
    ],
)
async def test_wrong_types_are_refused_naming_the_key(
    api: Api, upstream: FakeOpenAI, route: str, body: dict[str, Any], field: str
) -> None:
    await _refused(api, route, body, field)
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("aspect_ratio", "3x2"),
        ("aspect_ratio", "5:4"),
        ("quality", "HIGH"),
        ("quality", "hd"),
        ("background", "clear"),
        ("output_format", "jpg"),
    ],
)
async def test_enum_spellings_are_the_references(api: Api, key: str, value: str) -> None:
    await _refused(api, GENERATE, {"prompt": "a", key: value}, key)


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        # Ranges and combinations are the core's rules (validation.py), shared with gRPC.
        (GENERATE, {"prompt": "a", "number_of_images": 11}, "number_of_images"),
        (GENERATE, {"prompt": "  "}, "prompt"),
        (
            GENERATE,
            {"prompt": "a", "background": "transparent", "output_format": "jpeg"},
            "output_format",
        ),
        (EDIT, {"prompt": "a"}, "image_url"),
        (EDIT, {"prompt": "a", "image_file": ""}, "image_file"),
        (EDIT, {"prompt": "a", "image_file": "not base64!"}, "image_file"),
        (INPAINT, {"prompt": "a", "image_file": "iVBORw0KGgo=", "mask_file": "%%"}, "mask_file"),
        (
            INPAINT,
            {
                "prompt": "a",
                "image_file": "aaaa",
                "inpaint_border_only": True,
                "border_percentage": 0.6,
            },
            "border_percentage",
        ),
    ],
)
async def test_values_are_checked_by_the_shared_rules(
    api: Api, upstream: FakeOpenAI, route: str, body: dict[str, Any], field: str
) -> None:
    await _refused(api, route, body, field)
    assert upstream.requests == []


async def test_giving_both_image_url_and_image_file_names_both(api: Api) -> None:
    answer = await _refused(
        api, EDIT, {"prompt": "a", "image_url": "http://x/a.png", "image_file": "aaaa"}, "image_url"
    )
    fields = [v["field"] for v in answer.body["error"]["details"]["field_violations"]]
    assert fields == ["image_url", "image_file"]


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]", b'"prompt"', b"null"])
async def test_a_body_that_is_not_a_json_object_is_refused(api: Api, raw: bytes) -> None:
    answer = await api.post_raw(GENERATE, raw)
    assert answer.status == 400 and answer.body["success"] is False
    fields = [v["field"] for v in answer.body["error"]["details"]["field_violations"]]
    assert fields == ["body"]


@pytest.mark.parametrize("harness", [{"max_input_bytes": 1000}], indirect=True)
async def test_a_body_beyond_an_image_and_a_mask_is_413(
    harness: Harness, api: Api, upstream: FakeOpenAI
) -> None:
    limit = http_models.max_body_bytes(1000)
    body = json.dumps({"prompt": "a", "image_file": "A" * limit}).encode()
    answer = await api.post_raw(EDIT, body)
    assert answer.status == 413 and str(limit) in answer.body["message"]
    assert upstream.requests == []


@pytest.mark.parametrize("key", [None, "", "wrong"])
async def test_every_route_wants_a_valid_key(
    api: Api, upstream: FakeOpenAI, key: str | None
) -> None:
    for route in ROUTES:
        answer = await api.post(route, {"prompt": "a"}, key=key)
        assert answer.status == 401
        assert answer.body["success"] is False
        assert answer.body["error"]["code"] == "UNAUTHENTICATED"
        assert answer.body["error"]["reason"] == "API_KEY_INVALID"
    assert upstream.requests == []
