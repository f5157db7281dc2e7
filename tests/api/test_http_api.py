"""The reference API's JSON surface end to end: real sockets, aiohttp client, loopback upstream."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from PIL import Image
from visionstudio.server.api.http import models as json_api
from visionstudio.server.api.http import sse
from visionstudio.server.jobs.events import JobEvent
from visionstudio.server.jobs.runner import ImageStudio

from tests.fake_openai import Failure, FakeOpenAI
from tests.support.harness import API_KEY, Harness, ImageHost, decode, eventually, png

GENERATE = "/image/generation/generate-image"
EDIT = "/image/editing/edit-image"
INPAINT = "/image/editing/inpaint"
ROUTES = (GENERATE, EDIT, INPAINT)
ATTEMPTS = 3  # the harness allows two retries of transient upstream failures


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Api:
    """The JSON surface of the harness's server, called as a reference API client would."""

    http: aiohttp.ClientSession
    base: str

    async def post(self, route: str, body: object, *, key: str | None = API_KEY) -> Answer:
        headers = {"X-API-Key": key} if key is not None else {}
        async with self.http.post(self.base + route, json=body, headers=headers) as resp:
            return Answer(resp.status, await resp.json(), dict(resp.headers))

    async def post_raw(self, route: str, data: bytes) -> Answer:
        headers = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
        async with self.http.post(self.base + route, data=data, headers=headers) as resp:
            return Answer(resp.status, await resp.json(), dict(resp.headers))

    def stream(self, route: str, body: object) -> Any:
        headers = {"X-API-Key": API_KEY, "Accept": "text/event-stream"}
        return self.http.post(self.base + route, json=body, headers=headers)


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(http, f"http://127.0.0.1:{harness.service.http_port}{json_api.API_PREFIX}")


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event name, JSON data) per Server-Sent Event; comment lines are skipped."""
    name, data = "", ""
    async for raw in resp.content:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line and name:
            yield name, json.loads(data)
            name, data = "", ""


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _alpha_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    return _png(mask)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _load(url: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, resp.content_type, await resp.read()


def _sizes(answer: Answer) -> list[tuple[int, int]]:
    return [(i["width"], i["height"]) for i in answer.body["data"]["images"]]


# --- the reference's own examples ------------------------------------------------------------


async def test_basic_generation(api: Api, upstream: FakeOpenAI) -> None:
    answer = await api.post(GENERATE, {"prompt": "A serene mountain landscape at sunset"})
    assert answer.status == 200 and answer.body["success"] is True
    data = answer.body["data"]
    assert data["model"] == "gpt-image-2.5-flare" and data["job_id"]
    (image,) = data["images"]
    fields = {"index", "url", "image_id", "width", "height", "mime_type", "size_bytes"}
    assert set(image) == fields  # no "data" unless include_data
    assert (image["index"], image["width"], image["height"]) == (0, 1024, 1024)
    assert image["mime_type"] == "image/png"
    usage = data["usage"]
    assert usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    # The URL loads without a key, as in a browser.
    status, content_type, body = await _load(image["url"])
    assert (status, content_type) == (200, "image/png")
    assert len(body) == image["size_bytes"] and decode(body).size == (1024, 1024)
    assert upstream.requests[-1].endpoint == "generations"


async def test_portrait_high_quality(api: Api, upstream: FakeOpenAI) -> None:
    answer = await api.post(
        GENERATE,
        {"prompt": "A portrait of a wise old wizard", "aspect_ratio": "2:3", "quality": "high"},
    )
    assert answer.status == 200
    assert _sizes(answer) == [(1024, 1536)]
    assert upstream.requests[-1].fields["quality"] == "high"


async def test_four_landscape_images(api: Api, upstream: FakeOpenAI) -> None:
    answer = await api.post(
        GENERATE,
        {"prompt": "Futuristic city skyline", "number_of_images": 4, "aspect_ratio": "3:2"},
    )
    assert answer.status == 200
    images = answer.body["data"]["images"]
    assert [i["index"] for i in images] == [0, 1, 2, 3]  # sorted by index
    assert _sizes(answer) == [(1536, 1024)] * 4
    assert len({i["image_id"] for i in images}) == 4 and len(upstream.requests) == 4


async def test_transparent_background(api: Api) -> None:
    answer = await api.post(
        GENERATE, {"prompt": "A cute cartoon cat sticker", "background": "transparent"}
    )
    assert answer.status == 200
    (image,) = answer.body["data"]["images"]
    status, content_type, body = await _load(image["url"])
    assert (status, content_type) == (200, "image/png")
    img = decode(body)
    assert img.format == "PNG" and img.mode == "RGBA"
    assert img.getchannel("A").getextrema() == (0, 255)


async def test_edit_by_url(api: Api, upstream: FakeOpenAI, image_host: ImageHost) -> None:
    url = image_host.put("photo.png", png((800, 600)))
    answer = await api.post(EDIT, {"prompt": "Make it a night scene", "image_url": url})
    assert answer.status == 200
    assert _sizes(answer) == [(1024, 768)]  # 800x600 is 4:3
    assert upstream.requests[-1].endpoint == "edits"


async def test_style_transformation_with_two_results(
    api: Api, upstream: FakeOpenAI, image_host: ImageHost
) -> None:
    url = image_host.put("photo.png", png((512, 512)))
    answer = await api.post(
        EDIT,
        {"prompt": "Transform into Van Gogh style", "image_url": url, "number_of_images": 2},
    )
    assert answer.status == 200
    assert [i["index"] for i in answer.body["data"]["images"]] == [0, 1]
    assert len(upstream.requests) == 2


async def test_inpaint_with_mask_url(api: Api, image_host: ImageHost) -> None:
    image_url = image_host.put("room.png", png((640, 480)))
    mask_url = image_host.put("mask.png", _alpha_mask((640, 480), (200, 150, 440, 330)))
    answer = await api.post(
        INPAINT, {"prompt": "Add a red door", "image_url": image_url, "mask_url": mask_url}
    )
    assert answer.status == 200
    assert _sizes(answer) == [(640, 480)]


@pytest.mark.parametrize("prefix", ["", "data:image/png;base64,"])
async def test_inpaint_with_base64_files(api: Api, prefix: str) -> None:
    answer = await api.post(
        INPAINT,
        {
            "prompt": "Add a window",
            "image_file": prefix + _b64(png((640, 480))),
            "mask_file": prefix + _b64(_alpha_mask((320, 240), (50, 50, 150, 150))),
            "include_data": True,
        },
    )
    assert answer.status == 200
    (image,) = answer.body["data"]["images"]
    result = decode(base64.b64decode(image["data"]))
    assert result.size == (640, 480) and len(base64.b64decode(image["data"])) == image["size_bytes"]


@pytest.mark.parametrize(
    ("fraction", "size"), [(0.05, (660, 440)), (0.2, (840, 560)), (0.4, (1080, 720))]
)
async def test_border_expansion(api: Api, fraction: float, size: tuple[int, int]) -> None:
    answer = await api.post(
        INPAINT,
        {
            "prompt": "Extend the landscape naturally",
            "image_file": _b64(png((600, 400))),
            "inpaint_border_only": True,
            "border_percentage": fraction,
            "include_data": True,
        },
    )
    assert answer.status == 200, answer.body
    assert _sizes(answer) == [size]
    (image,) = answer.body["data"]["images"]
    assert decode(base64.b64decode(image["data"])).size == size


async def test_eight_concurrent_requests_with_mixed_settings(
    api: Api, image_host: ImageHost
) -> None:
    photo = image_host.put("photo.png", png((600, 400)))
    requests: list[tuple[str, dict[str, Any]]] = [
        (GENERATE, {"prompt": "a red fox", "aspect_ratio": "1:1", "quality": "low"}),
        (GENERATE, {"prompt": "a castle", "aspect_ratio": "16:9", "number_of_images": 2}),
        (GENERATE, {"prompt": "a robot", "aspect_ratio": "2:3", "quality": "medium"}),
        (GENERATE, {"prompt": "a sticker", "background": "transparent", "output_format": "webp"}),
        (GENERATE, {"prompt": "a bowl", "output_format": "jpeg", "number_of_images": 3}),
        (EDIT, {"prompt": "as a watercolor", "image_url": photo, "number_of_images": 2}),
        (EDIT, {"prompt": "at night", "image_file": _b64(png((512, 512))), "aspect_ratio": "9:16"}),
        (
            INPAINT,
            {
                "prompt": "more sky",
                "image_url": photo,
                "inpaint_border_only": True,
                "border_percentage": 0.1,
            },
        ),
    ]
    answers = await asyncio.gather(*(api.post(route, body) for route, body in requests))
    for (_, body), answer in zip(requests, answers, strict=True):
        assert answer.status == 200 and answer.body["success"] is True, answer.body
        assert len(answer.body["data"]["images"]) == body.get("number_of_images", 1)


# --- refusals ------------------------------------------------------------------------------


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


@pytest.fixture
def small_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISIONSTUDIO_MAX_INPUT_BYTES", "1000")


async def test_a_body_beyond_an_image_and_a_mask_is_413(
    small_inputs: None, api: Api, upstream: FakeOpenAI
) -> None:
    limit = json_api.max_body_bytes(1000)
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


# --- upstream failures ---------------------------------------------------------------------


def _upstream_error(code: str | None, message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


MODERATION = Failure(400, _upstream_error("moderation_blocked", "Rejected by safety.", "invalid"))
SERVER_ERROR = Failure(500, _upstream_error(None, "boom", "server_error"))


async def test_upstream_rate_limit_is_429_with_retry_after(api: Api, upstream: FakeOpenAI) -> None:
    limited = _upstream_error("rate_limit_exceeded", "slow down", "requests")
    upstream.config.fail_next.extend([Failure(429, limited, {"Retry-After": "0.2"})] * ATTEMPTS)
    answer = await api.post(GENERATE, {"prompt": "a ship"})
    assert answer.status == 429
    error = answer.body["error"]
    assert (error["code"], error["reason"]) == ("RESOURCE_EXHAUSTED", "RATE_LIMITED")
    # The header has whole seconds, rounded up; the body keeps the provider's figure.
    assert answer.headers["Retry-After"] == "1" and error["details"]["retry_after_s"] == 0.2
    assert answer.body["data"]["images"] == []  # the job had started: its id is reported


@pytest.mark.parametrize(
    ("failure", "http_status", "reason"),
    [
        (MODERATION, 400, "CONTENT_POLICY_VIOLATION"),
        (
            Failure(401, _upstream_error("invalid_api_key", "Incorrect key: sk-up****", "auth")),
            502,
            "PROVIDER_CREDENTIALS_REFUSED",
        ),
        (SERVER_ERROR, 503, "UPSTREAM_UNAVAILABLE"),
    ],
)
async def test_upstream_failures_map_to_http_statuses(
    api: Api, upstream: FakeOpenAI, failure: Failure, http_status: int, reason: str
) -> None:
    upstream.config.fail_next.extend([failure] * ATTEMPTS)
    answer = await api.post(GENERATE, {"prompt": "a ship"})
    assert answer.status == http_status and answer.body["error"]["reason"] == reason
    assert "sk-up" not in json.dumps(answer.body)


async def test_partial_failure_still_delivers_what_succeeded(
    api: Api, upstream: FakeOpenAI
) -> None:
    upstream.config.fail_next.append(MODERATION)  # never retried: one image fails for good
    answer = await api.post(GENERATE, {"prompt": "three birds", "number_of_images": 3})
    assert answer.status == 400 and answer.body["success"] is False
    assert "1 of 3 images failed" in answer.body["message"]
    data, metadata = answer.body["data"], answer.body["error"]["details"]["metadata"]
    assert metadata["job_id"] == data["job_id"]
    delivered = [i["index"] for i in data["images"]]
    assert len(delivered) == 2 and delivered == sorted(delivered)
    assert sorted([*delivered, int(metadata["failed_indices"])]) == [0, 1, 2]
    for image in data["images"]:
        assert (await _load(image["url"]))[0] == 200


async def test_an_unexpected_error_is_a_generic_500(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> AsyncIterator[JobEvent]:
        raise RuntimeError("secret internals")
        yield  # an async generator, like the real one

    monkeypatch.setattr(ImageStudio, "run", broken)
    for accept in ("application/json", "text/event-stream"):
        async with api.http.post(
            api.base + GENERATE,
            json={"prompt": "a"},
            headers={"X-API-Key": API_KEY, "Accept": accept},
        ) as resp:
            assert resp.status == 500
            text = await resp.text()
        assert json.loads(text)["error"]["code"] == "INTERNAL"
        assert "secret" not in text and "Traceback" not in text


@pytest.fixture
def one_second_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISIONSTUDIO_MAX_CALL_S", "1")


async def test_a_call_over_the_time_limit_is_504_and_stops_upstream(
    one_second_calls: None, api: Api, upstream: FakeOpenAI
) -> None:
    upstream.config.latency_s = 30
    answer = await api.post(GENERATE, {"prompt": "slow"})
    assert answer.status == 504 and answer.body["error"]["code"] == "DEADLINE_EXCEEDED"
    assert await eventually(lambda: upstream.in_flight == 0)


@pytest.mark.parametrize("harness", [{"detach_jobs": False}], indirect=True)
async def test_a_caller_hanging_up_cancels_its_job(
    api: Api, harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.latency_s = 30
    with pytest.raises(TimeoutError):
        async with api.http.post(
            api.base + GENERATE,
            json={"prompt": "never mind", "number_of_images": 2},
            headers={"X-API-Key": API_KEY},
            timeout=aiohttp.ClientTimeout(total=0.5),
        ):
            pass

    def job_status() -> str:
        with sqlite3.connect(harness.data_dir / "jobs.sqlite3") as db:
            (status,) = db.execute("SELECT status FROM jobs").fetchone()
        return str(status)

    assert await eventually(lambda: upstream.in_flight == 0 and upstream.disconnects == 2)
    assert await eventually(lambda: job_status() == "cancelled")


# --- Server-Sent Events --------------------------------------------------------------------


async def test_events_stream_each_image_as_it_is_ready(api: Api, upstream: FakeOpenAI) -> None:
    upstream.config.next_latencies = [0.05, 2, 2]
    kinds: list[str] = []
    payloads: list[dict[str, Any]] = []
    in_flight_at_first_image = None
    async with api.stream(GENERATE, {"prompt": "three boats", "number_of_images": 3}) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        async for kind, payload in sse_events(resp):
            if kind == "image" and in_flight_at_first_image is None:
                in_flight_at_first_image = upstream.in_flight
            kinds.append(kind)
            payloads.append(payload)
    assert kinds == ["accepted", "image", "image", "image", "summary"]
    assert in_flight_at_first_image == 2  # the first image came while the others were rendering
    accepted, summary = payloads[0], payloads[-1]
    assert accepted["number_of_images"] == 3 and accepted["model"] == "gpt-image-2.5-flare"
    assert summary["job_id"] == accepted["job_id"] and summary["images_delivered"] == 3
    assert summary["usage"]["output_tokens"] > 0 and summary["elapsed_ms"] >= 2000
    assert sorted(p["index"] for p in payloads[1:4]) == [0, 1, 2]
    assert payloads[1]["index"] == 0  # the fast one
    assert all((p["width"], p["height"]) == (1024, 1024) for p in payloads[1:4])


async def test_a_failure_after_the_stream_started_is_an_error_event(
    api: Api, upstream: FakeOpenAI
) -> None:
    upstream.config.fail_next.append(MODERATION)
    async with api.stream(GENERATE, {"prompt": "a ship"}) as resp:
        assert resp.status == 200
        events = [event async for event in sse_events(resp)]
    assert [kind for kind, _ in events] == ["accepted", "error"]
    error = events[1][1]
    assert error["success"] is False and error["error"]["reason"] == "CONTENT_POLICY_VIOLATION"
    assert error["data"]["job_id"] == events[0][1]["job_id"]


async def test_errors_before_the_job_starts_are_plain_json(api: Api, upstream: FakeOpenAI) -> None:
    async with api.stream(GENERATE, {"prompt": "a", "number_of_images": 0.5}) as resp:
        assert resp.status == 400 and resp.content_type == "application/json"
        body = await resp.json()
    assert body["error"]["details"]["field_violations"][0]["field"] == "number_of_images"
    async with api.stream(EDIT, {"prompt": "a", "image_url": "http://10.1.2.3/a.png"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["reason"] == "URL_NOT_ALLOWED"
    assert upstream.requests == []


async def test_a_waiting_stream_gets_keepalive_comments(
    api: Api, upstream: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sse, "KEEPALIVE_S", 0.05)
    upstream.config.latency_s = 0.5
    async with api.stream(GENERATE, {"prompt": "a"}) as resp:
        text = (await resp.read()).decode()
    assert ": keepalive\n\n" in text
    assert text.index("event: accepted") < text.index(": keepalive") < text.index("event: image")


# --- OpenAPI ---------------------------------------------------------------------------------


async def test_openapi_document_describes_the_surface(api: Api) -> None:
    async with api.http.get(api.base + "/openapi.json") as resp:
        assert resp.status == 401
    keyed = {"X-API-Key": API_KEY}
    async with api.http.get(api.base + "/openapi.json", headers=keyed) as resp:
        assert resp.status == 200
        doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    schemes = doc["components"]["securitySchemes"]
    assert {"type": "apiKey", "in": "header", "name": "X-API-Key"} in schemes.values()
    schemas = doc["components"]["schemas"]
    for endpoint in json_api.ENDPOINTS:
        operation = doc["paths"][endpoint.path]["post"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        name = ref.rsplit("/", 1)[1]
        assert set(schemas[name]["properties"]) == set(endpoint.body.model_fields)
        assert schemas[name]["additionalProperties"] is False
        answers = operation["responses"]
        assert {"application/json", "text/event-stream"} <= set(answers["200"]["content"])
        assert {"400", "401", "429", "502", "503", "504"} <= set(answers)
        assert operation["security"]
    assert {p.removeprefix(json_api.API_PREFIX) for p in doc["paths"]} == set(ROUTES)
    ratio = schemas["GenerateImageRequest"]["properties"]["aspect_ratio"]
    assert "3:2" in json.dumps(ratio)
    assert schemas["Quality"]["enum"] == ["auto", "low", "medium", "high"]
    # Every $ref points at a schema that exists.
    refs = {r.rsplit("/", 1)[1] for r in _refs(doc)}
    assert refs <= set(schemas)


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []
